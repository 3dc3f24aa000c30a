"""OGBench single-task episodes for qipo, served over stdin/stdout.

Runs `n` copies of an OGBench single-task environment (`ogbench` itself, through gymnasium)
and answers qipo's requests in the little-endian binary protocol of src/envs/served.rs:

  header (once):  b"QOG1", u32 obs_dim, u32 act_dim, u32 max_steps,
                  f64[act_dim] action low, f64[act_dim] action high
  b"R" + u64[n] seeds                      -> f64[n * obs_dim] observations
  b"S" + u32 k + u32[k] envs + f64[k * act_dim] actions
                                           -> k × (f64[obs_dim] obs, f64 reward,
                                                   u8 terminated, u8 truncated, u8 success)
  b"Q"                                     -> exit

Usage: python3 -c <this file> ENV_NAME N   (ENV_NAME e.g. antmaze-large-singletask-task1-v0)
"""
import struct
import sys

import numpy as np


def read_exact(stream, size):
    data = stream.read(size)
    if len(data) != size:
        sys.exit(0)  # qipo closed the pipe
    return data


def make(name, n):
    import gymnasium as gym
    import ogbench  # noqa: F401  (registers OGBench's environments)

    try:
        return [gym.make(name) for _ in range(n)]
    except gym.error.Error as err:
        sys.exit(f"ogbench {ogbench_version()} does not know the task '{name}': {err}")


def ogbench_version():
    from importlib.metadata import version

    return version("ogbench")


def reset(env, seed):
    # The mazes draw their start noise from numpy's global generator, which env.reset(seed)
    # leaves alone: seeding it too makes an episode a function of its seed.
    np.random.seed(seed % 2**32)
    return env.reset(seed=seed)


def main():
    name, n = sys.argv[1], int(sys.argv[2])
    envs = make(name, n)
    space = envs[0].action_space
    low, high = np.asarray(space.low, "<f8"), np.asarray(space.high, "<f8")
    obs_dim = int(np.prod(envs[0].observation_space.shape))
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    out.write(b"QOG1" + struct.pack("<III", obs_dim, low.size, envs[0].spec.max_episode_steps))
    out.write(low.tobytes() + high.tobytes())
    out.flush()
    while True:
        op = read_exact(inp, 1)
        if op == b"R":
            seeds = np.frombuffer(read_exact(inp, 8 * n), "<u8")
            for env, seed in zip(envs, seeds):
                obs, _ = reset(env, int(seed))
                out.write(np.asarray(obs, "<f8").tobytes())
        elif op == b"S":
            (k,) = struct.unpack("<I", read_exact(inp, 4))
            which = np.frombuffer(read_exact(inp, 4 * k), "<u4")
            actions = np.frombuffer(read_exact(inp, 8 * k * low.size), "<f8").reshape(k, low.size)
            for i, action in zip(which, actions):
                obs, reward, terminated, truncated, info = envs[int(i)].step(action)
                out.write(np.asarray(obs, "<f8").tobytes())
                success = bool(info.get("success", 0.0))
                out.write(struct.pack("<dBBB", float(reward), bool(terminated), bool(truncated), success))
        elif op == b"Q":
            return
        else:
            sys.exit(f"ogbench server: unknown request {op!r}")
        out.flush()


if __name__ == "__main__":
    main()
