"""AntMaze episodes for qipo, served over stdin/stdout.

Runs `n` copies of gymnasium-robotics' AntMaze (v5) on D4RL's fixed start and goal maps and
answers qipo's requests in a little-endian binary protocol:

  header (once):  b"QAM1", u32 obs_dim, u32 act_dim, u32 max_steps,
                  f64[act_dim] action low, f64[act_dim] action high
  b"R" + u64[n] seeds                      -> f64[n * obs_dim] observations
  b"S" + u32 k + u32[k] envs + f64[k * act_dim] actions
                                           -> k × (f64[obs_dim] obs, f64 reward,
                                                   u8 terminated, u8 truncated, u8 success)
  b"Q"                                     -> exit

Observations are D4RL's: the ant's qpos (15) and qvel (14), with x and y measured from the
start cell's centre as in D4RL's mazes (gymnasium-robotics centres the maze at the origin).
"""
import struct
import sys

import numpy as np

# D4RL's evaluation maps (1 wall, 0 free, r start, g goal), rows as D4RL lists them.
MAZES = {
    "umaze": ["11111", "1r001", "11101", "1g001", "11111"],
    "medium": [
        "11111111", "1r011001", "10010001", "11000111",
        "10010001", "10100101", "100010g1", "11111111",
    ],
    "large": [
        "111111111111", "1r0001000001", "101101010101", "100000010001",
        "101111011101", "100101000001", "110101010111", "1001000100g1",
        "111111111111",
    ],
}
MAX_STEPS = {"umaze": 700, "medium": 1000, "large": 1000}


def maze_map(name):
    import gymnasium_robotics.envs.maze.maps as maps

    cell = {"1": 1, "0": 0, "r": maps.RESET, "g": maps.GOAL}
    rows = [[cell[c] for c in row] for row in MAZES[name]]
    # D4RL's row index grows along +y, gymnasium-robotics' along -y: reversing the rows
    # builds the same world.
    return rows[::-1]


def start_offset(name, scaling=4.0):
    """Where D4RL's origin (the start cell's centre) lies in gymnasium-robotics' frame."""
    rows = MAZES[name][::-1]
    height, width = len(rows), len(rows[0])
    (i, j), = [(i, j) for i, row in enumerate(rows) for j, c in enumerate(row) if c == "r"]
    x = (j + 0.5) * scaling - width / 2 * scaling
    y = height / 2 * scaling - (i + 0.5) * scaling
    return np.array([x, y])


def read_exact(stream, size):
    data = stream.read(size)
    if len(data) != size:
        sys.exit(0)  # qipo closed the pipe
    return data


def main():
    name, n = sys.argv[1], int(sys.argv[2])
    import gymnasium as gym
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    envs = [
        gym.make(
            "AntMaze_UMaze-v5",
            maze_map=maze_map(name),
            continuing_task=False,
            include_cfrc_ext_in_observation=False,
            max_episode_steps=MAX_STEPS[name],
        )
        for _ in range(n)
    ]
    offset = start_offset(name)

    def observation(obs):
        return np.concatenate([obs["achieved_goal"] - offset, obs["observation"]]).astype("<f8")

    space = envs[0].action_space
    obs_dim = 2 + envs[0].observation_space["observation"].shape[0]
    act_dim = space.shape[0]
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    out.write(b"QAM1" + struct.pack("<III", obs_dim, act_dim, MAX_STEPS[name]))
    out.write(np.asarray(space.low, "<f8").tobytes() + np.asarray(space.high, "<f8").tobytes())
    out.flush()
    while True:
        op = read_exact(inp, 1)
        if op == b"R":
            seeds = np.frombuffer(read_exact(inp, 8 * n), "<u8")
            for env, seed in zip(envs, seeds):
                obs, _ = env.reset(seed=int(seed))
                out.write(observation(obs).tobytes())
        elif op == b"S":
            (k,) = struct.unpack("<I", read_exact(inp, 4))
            which = np.frombuffer(read_exact(inp, 4 * k), "<u4")
            actions = np.frombuffer(read_exact(inp, 8 * k * act_dim), "<f8").reshape(k, act_dim)
            for i, action in zip(which, actions):
                obs, reward, terminated, truncated, info = envs[int(i)].step(action.astype(np.float32))
                out.write(observation(obs).tobytes())
                out.write(struct.pack("<dBBB", float(reward), terminated, truncated, bool(info["success"])))
        elif op == b"Q":
            return
        else:
            sys.exit(f"antmaze server: unknown request {op!r}")
        out.flush()


if __name__ == "__main__":
    main()
