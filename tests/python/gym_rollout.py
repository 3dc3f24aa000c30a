"""Rolls out a gymnasium MuJoCo environment from a given state and action sequence.

Reads one JSON object from stdin: {"env_id", "qpos", "qvel", "actions"}; writes one JSON
object: the observation after set_state, then every step's observation, reward, terminated
and truncated, stopping at the end of the episode. Used by tests/env_parity.rs.
"""
import json
import sys

import gymnasium as gym
import numpy as np


def main():
    request = json.load(sys.stdin)
    env = gym.make(request["env_id"])
    env.reset(seed=0)
    inner = env.unwrapped
    inner.set_state(np.array(request["qpos"], dtype=np.float64), np.array(request["qvel"], dtype=np.float64))
    result = {"initial": inner._get_obs().tolist(), "obs": [], "rewards": [], "terminated": [], "truncated": []}
    for action in request["actions"]:
        obs, reward, terminated, truncated, _ = env.step(np.array(action, dtype=np.float64))
        result["obs"].append(obs.tolist())
        result["rewards"].append(float(reward))
        result["terminated"].append(bool(terminated))
        result["truncated"].append(bool(truncated))
        if terminated or truncated:
            break
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
