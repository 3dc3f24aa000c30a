"""Writes a small OGBench dataset file in OGBench's layout, and prints what OGBench's own
loader makes of it for one single-task environment, as JSON.

Usage: python3 make_ogbench.py DIR

Writes DIR/antmaze-medium-navigate-v0.npz: two trajectories of 30 random steps in OGBench's
antmaze-medium-v0, with the arrays its data-generation scripts save (observations, actions,
terminals at each trajectory's last step, qpos, qvel). Rows 10 to 14 of the second
trajectory have the ant's x, y moved onto task 1's goal, so that the task's relabelling marks
them solved (reward 0, mask 0) and the rest not (reward -1, mask 1). Then prints the
relabelled transitions of `ogbench.load_dataset` + `relabel_dataset` for
antmaze-medium-singletask-task1-v0. Used by tests/data_ogbench.rs.
"""
import json
import os
import sys

import gymnasium as gym
import numpy as np
import ogbench
from ogbench.relabel_utils import relabel_dataset

STEPS, TRAJECTORIES = 30, 2
TASK = "antmaze-medium-singletask-task1-v0"


def main():
    out_dir = sys.argv[1]
    env = gym.make("antmaze-medium-v0")
    env.action_space.seed(0)
    arrays = {key: [] for key in ["observations", "actions", "terminals", "qpos", "qvel"]}
    for trajectory in range(TRAJECTORIES):
        obs, info = env.reset(seed=trajectory)
        for t in range(STEPS):
            action = env.action_space.sample()
            arrays["observations"].append(obs)
            arrays["actions"].append(action)
            arrays["terminals"].append(1.0 if t + 1 == STEPS else 0.0)
            arrays["qpos"].append(env.unwrapped.data.qpos.copy())
            arrays["qvel"].append(env.unwrapped.data.qvel.copy())
            obs, _, _, _, info = env.step(action)
    data = {key: np.array(values) for key, values in arrays.items()}
    data["observations"] = data["observations"].astype(np.float32)
    data["actions"] = data["actions"].astype(np.float32)
    data["terminals"] = data["terminals"].astype(np.float32)

    task_env = gym.make(TASK)
    task_env.reset()
    goal = task_env.unwrapped.cur_goal_xy
    data["qpos"][STEPS + 10 : STEPS + 15, :2] = goal

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "antmaze-medium-navigate-v0.npz")
    np.savez_compressed(path, **data)

    dataset = ogbench.load_dataset(path, add_info=True)
    relabel_dataset(TASK, task_env, dataset)
    json.dump(
        {
            "rows": len(dataset["observations"]),
            "rewards": dataset["rewards"].tolist(),
            "masks": dataset["masks"].tolist(),
            "terminals": dataset["terminals"].tolist(),
            "next_observation_0": dataset["next_observations"][0].tolist(),
            "observation_last": dataset["observations"][-1].tolist(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
