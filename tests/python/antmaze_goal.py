"""Checks the AntMaze server's D4RL rules directly: goal noise, and success at the goal.

Loads src/envs/antmaze_server.py as a module, with D4RL's ant from data/mujoco. Used by
tests/env_antmaze.rs; prints "ok" when every check holds.
"""
import importlib.util
import os

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
spec = importlib.util.spec_from_file_location("server", os.path.join(ROOT, "src", "envs", "antmaze_server.py"))
server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(server)

import gymnasium as gym  # noqa: E402
import gymnasium_robotics  # noqa: E402

gym.register_envs(gymnasium_robotics)
xml = os.path.join(ROOT, "data", "mujoco", "d4rl_ant.xml")
for name in ["umaze", "medium", "large"]:
    episode = server.Episode(name, xml)
    low, high = episode.env.action_space.low, episode.env.action_space.high
    for seed in range(5):
        obs = episode.reset(seed)
        offset = episode.goal - server.goal_base(name)
        assert np.all(offset >= 0) and np.all(offset <= 1.5), (name, seed, episode.goal)
        assert np.all(np.abs(obs[:2]) <= 0.1), (name, seed, obs[:2])
    # Far from the goal: nothing.
    obs, reward, terminated, truncated, success = episode.step(np.zeros(8), low, high)
    assert (reward, terminated, success) == (0.0, False, False), (name, reward, terminated)
    # Placed 0.3 m from the goal: success, reward 1, and the episode ends.
    qpos = episode.ant.data.qpos.copy()
    qpos[:2] = episode.goal + episode.offset + np.array([0.3, 0.0])
    episode.ant.set_state(qpos, np.zeros(episode.ant.data.qvel.size))
    obs, reward, terminated, truncated, success = episode.step(np.zeros(8), low, high)
    assert (reward, terminated, success) == (1.0, True, True), (name, obs[:2], episode.goal)
print("ok")
