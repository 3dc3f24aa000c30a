"""Reads an OGBench dataset file for one single-task environment, with OGBench's own loader,
and writes its transitions to stdout for qipo.

Usage: python3 -c <this file> NPZ_PATH ENV_NAME

The file is checked first (every array the loader needs, one length for all), then read by
`ogbench.utils.load_dataset` (transitions within each trajectory, `next_observations` by
shifting) and relabelled by `ogbench.relabel_utils.relabel_dataset` with the task of ENV_NAME
(e.g. antmaze-large-singletask-task1-v0): exactly the rewards and masks OGBench's
`make_env_and_datasets` gives. Output, little-endian: b"QOD1", u64 rows, u32 obs_dim,
u32 act_dim, then f32 arrays: observations, actions, next_observations, rewards, masks,
terminals (1 at the last transition of each trajectory). A problem is one line on stderr
and exit status 1.
"""
import struct
import sys
import zipfile

import numpy as np


def fail(message):
    sys.stderr.write(message + "\n")
    sys.exit(1)


def check(path, env_name):
    try:
        file = np.load(path)
    except FileNotFoundError:
        fail("file not found")
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        fail(f"not an .npz file ({err})")
    if not hasattr(file, "files"):
        fail("a single .npy array, not an .npz file of arrays")
    required = ["observations", "actions", "terminals", "qpos"]
    if "scene" in env_name or "puzzle" in env_name:
        required.append("button_states")
    missing = [key for key in required if key not in file.files]
    if missing:
        fail(f"no '{missing[0]}' array (OGBench's single-task data need {', '.join(required)})")
    rows = {key: file[key].shape[0] if file[key].ndim else 0 for key in required}
    for key in required[1:]:
        if rows[key] != rows["observations"]:
            fail(f"length mismatch: '{key}' has {rows[key]} rows but 'observations' has {rows['observations']}")
    if rows["observations"] < 2:
        fail(f"'observations' has {rows['observations']} rows: no transitions")


def main():
    path, env_name = sys.argv[1], sys.argv[2]
    check(path, env_name)
    import gymnasium as gym
    import ogbench
    from ogbench.relabel_utils import relabel_dataset

    try:
        env = gym.make(env_name)
    except gym.error.Error as err:
        fail(f"ogbench {version()} does not know the task '{env_name}': {err}")
    dataset = ogbench.load_dataset(path, add_info=True)
    relabel_dataset(env_name, env, dataset)

    observations = dataset["observations"].reshape(len(dataset["observations"]), -1)
    actions = dataset["actions"].reshape(len(dataset["actions"]), -1)
    out = sys.stdout.buffer
    out.write(b"QOD1" + struct.pack("<QII", len(observations), observations.shape[1], actions.shape[1]))
    for key in ["observations", "actions", "next_observations", "rewards", "masks", "terminals"]:
        out.write(np.ascontiguousarray(dataset[key], "<f4").tobytes())
    out.flush()


def version():
    from importlib.metadata import version

    return version("ogbench")


if __name__ == "__main__":
    main()
