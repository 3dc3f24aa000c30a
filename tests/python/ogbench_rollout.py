"""Rolls out OGBench single-task environments with `ogbench` directly: the reference that
tests/env_ogbench.rs holds qipo's OGBench server to.

Reads one JSON object from stdin: {"env", "seeds", "actions"}; for each seed, resets a fresh
environment with it and steps the same action sequence until the episode ends. Writes one
JSON object: per seed, the first observation and every step's observation, reward,
terminated, truncated and success.
"""
import json
import sys

import gymnasium as gym
import numpy as np
import ogbench  # noqa: F401  (registers OGBench's environments)


def main():
    request = json.load(sys.stdin)
    episodes = []
    for seed in request["seeds"]:
        env = gym.make(request["env"])
        # As qipo's server: OGBench's mazes draw their start noise from numpy's global generator.
        np.random.seed(seed % 2**32)
        obs, _ = env.reset(seed=seed)
        episode = {"initial": np.asarray(obs, np.float64).tolist(), "steps": []}
        for action in request["actions"]:
            obs, reward, terminated, truncated, info = env.step(np.array(action, dtype=np.float64))
            episode["steps"].append(
                {
                    "obs": np.asarray(obs, np.float64).tolist(),
                    "reward": float(reward),
                    "terminated": bool(terminated),
                    "truncated": bool(truncated),
                    "success": bool(info.get("success", 0.0)),
                }
            )
            if terminated or truncated:
                break
        episodes.append(episode)
    json.dump(episodes, sys.stdout)


if __name__ == "__main__":
    main()
