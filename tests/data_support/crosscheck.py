#!/usr/bin/env python3
"""Independent statistics of a D4RL or Minari HDF5 file, for comparison with `qipo dataset inspect`.

Usage: crosscheck.py FILE [ENV]   (prints one JSON object)

Conventions (the same as qipo's): an episode ends at a terminal or a timeout and a trailing
run with neither flag is one more episode; returns are float64 sums over every step in the
file. D4RL transitions are all rows when next_observations is present, else the rows d4rl's
qlearning_dataset keeps (not the last row, no timeout rows). Minari: one episode per group.
"""
import json
import sys

import h5py
import numpy as np

REFERENCE_RETURNS = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "antmaze": (0.0, 1.0),
}


def d4rl_stats(f):
    rewards = f["rewards"][:].astype(np.float64)
    n = len(rewards)
    terminals = f["terminals"][:].astype(bool)
    timeouts = f["timeouts"][:].astype(bool) if "timeouts" in f else np.zeros(n, bool)
    if "next_observations" in f:
        transitions = n
    else:
        transitions = int(np.count_nonzero(~timeouts[: n - 1]))
    ends = list(np.flatnonzero(terminals | timeouts) + 1)
    if not ends or ends[-1] != n:
        ends.append(n)
    starts = [0] + ends[:-1]
    returns = [rewards[s:e].sum() for s, e in zip(starts, ends)]
    return dict(
        format="d4rl",
        transitions=transitions,
        episodes=len(returns),
        returns=returns,
        obs_dim=f["observations"].shape[1],
        act_dim=f["actions"].shape[1],
    )


def minari_stats(f):
    names = sorted((k for k in f.keys() if k.startswith("episode_")), key=lambda k: int(k[len("episode_"):]))
    returns = [f[k]["rewards"][:].astype(np.float64).sum() for k in names]
    return dict(
        format="minari",
        transitions=sum(len(f[k]["actions"]) for k in names),
        episodes=len(names),
        returns=returns,
        obs_dim=f[names[0]]["observations"].shape[1],
        act_dim=f[names[0]]["actions"].shape[1],
    )


def main():
    path = sys.argv[1]
    env = sys.argv[2] if len(sys.argv) > 2 else None
    with h5py.File(path, "r") as f:
        stats = d4rl_stats(f) if "observations" in f else minari_stats(f)
    returns = np.asarray(stats.pop("returns"))
    stats.update(return_mean=float(returns.mean()), return_min=float(returns.min()),
                 return_max=float(returns.max()), normalized_score=None)
    if env is not None:
        low, high = REFERENCE_RETURNS[env]
        stats["normalized_score"] = 100.0 * (stats["return_mean"] - low) / (high - low)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
