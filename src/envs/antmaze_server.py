"""AntMaze episodes for qipo, served over stdin/stdout.

Runs `n` copies of D4RL's AntMaze evaluation (the v2 "_TEST" maps with one fixed goal, D4RL's
ant, start and goal noise, and success radius) on gymnasium-robotics' maze builder, and
answers qipo's requests in a little-endian binary protocol:

  header (once):  b"QAM1", u32 obs_dim, u32 act_dim, u32 max_steps,
                  f64[act_dim] action low, f64[act_dim] action high
  b"R" + u64[n] seeds                      -> f64[n * obs_dim] observations
  b"S" + u32 k + u32[k] envs + f64[k * act_dim] actions
                                           -> k × (f64[obs_dim] obs, f64 reward,
                                                   u8 terminated, u8 truncated, u8 success)
  b"Q"                                     -> exit

Usage: python3 -c <this file> MAZE N ANT_XML_TEXT
"""
import struct
import sys
import tempfile

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
        "101111011101", "100101000001", "110101010111", "100100010g01",
        "111111111111",
    ],
}
MAX_STEPS = {"umaze": 700, "medium": 1000, "large": 1000}
SCALING = 4.0          # metres per maze cell
SUCCESS_RADIUS = 0.5   # D4RL: the goal is reached within 0.5 m
RESET_NOISE = 0.1      # D4RL's ant: qpos + U(±0.1), qvel + 0.1·N(0, 1)


def cell(name, kind):
    (found,) = [(i, j) for i, row in enumerate(MAZES[name]) for j, c in enumerate(row) if c == kind]
    return found


def maze_map(name):
    # The start and goal are placed by D4RL's rules below, so both are free cells here.
    code = {"1": 1, "0": 0, "r": 0, "g": 0}
    rows = [[code[c] for c in row] for row in MAZES[name]]
    # D4RL's row index grows along +y, gymnasium-robotics' along -y: reversing the rows
    # builds the same world.
    return rows[::-1]


def start_offset(name):
    """Where D4RL's origin (the start cell's centre) lies in gymnasium-robotics' frame."""
    height, width = len(MAZES[name]), len(MAZES[name][0])
    i, j = cell(name, "r")
    i = height - 1 - i  # the reversed rows
    return np.array([(j + 0.5) * SCALING - width / 2 * SCALING, height / 2 * SCALING - (i + 0.5) * SCALING])


def goal_base(name):
    """The goal cell's corner in D4RL's frame, before D4RL's noise."""
    (gi, gj), (ri, rj) = cell(name, "g"), cell(name, "r")
    return np.array([(gj - rj) * SCALING, (gi - ri) * SCALING])


def read_exact(stream, size):
    data = stream.read(size)
    if len(data) != size:
        sys.exit(0)  # qipo closed the pipe
    return data


class Episode:
    """One copy: the gymnasium-robotics maze with D4RL's start, goal and success rule."""

    def __init__(self, name, xml_path):
        import gymnasium as gym

        # continuing_task without reset_target: gymnasium-robotics neither ends the episode
        # nor moves the goal; D4RL's rule below does both.
        self.env = gym.make(
            "AntMaze_UMaze-v5",
            maze_map=maze_map(name),
            xml_file=xml_path,
            continuing_task=True,
            reset_target=False,
            include_cfrc_ext_in_observation=False,
            max_episode_steps=MAX_STEPS[name],
        )
        self.ant = self.env.unwrapped.ant_env
        self.offset = start_offset(name)
        self.goal_base = goal_base(name)
        self.goal = self.goal_base

    def observation(self):
        qpos, qvel = self.ant.data.qpos, self.ant.data.qvel
        return np.concatenate([qpos[:2] - self.offset, qpos[2:15], qvel[:14]]).astype("<f8")

    def reset(self, seed):
        self.env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        qpos = self.ant.init_qpos.copy()
        qpos[:2] = self.offset
        qpos += rng.uniform(-RESET_NOISE, RESET_NOISE, size=qpos.size)
        qvel = RESET_NOISE * rng.standard_normal(self.ant.init_qvel.size)
        self.ant.set_state(qpos, qvel)
        # D4RL: the goal cell's corner plus U(0, 1) and U(0, 0.5) metres per axis, kept >= 0.
        noise = rng.uniform(0, 0.25 * SCALING, 2) + rng.uniform(0, 0.5, 2) * 0.25 * SCALING
        self.goal = np.maximum(self.goal_base + noise, 0.0)
        self.env.unwrapped.goal = self.goal + self.offset
        self.env.unwrapped.update_target_site_pos()
        return self.observation()

    def step(self, action, low, high):
        # D4RL's NormalizedBoxEnv: actions in [-1, 1] span the motors' control range.
        control = np.clip(low + (action + 1.0) * 0.5 * (high - low), low, high)
        _, _, _, truncated, _ = self.env.step(control.astype(np.float32))
        obs = self.observation()
        success = bool(np.linalg.norm(obs[:2] - self.goal) <= SUCCESS_RADIUS)
        return obs, float(success), success, bool(truncated) and not success, success


def main():
    name, n, xml_text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    import gymnasium as gym
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as xml:
        xml.write(xml_text)
    episodes = [Episode(name, xml.name) for _ in range(n)]
    space = episodes[0].env.action_space
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    obs_dim, act_dim = episodes[0].observation().size, low.size
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    out.write(b"QAM1" + struct.pack("<III", obs_dim, act_dim, MAX_STEPS[name]))
    out.write(np.full(act_dim, -1.0, "<f8").tobytes() + np.full(act_dim, 1.0, "<f8").tobytes())
    out.flush()
    while True:
        op = read_exact(inp, 1)
        if op == b"R":
            seeds = np.frombuffer(read_exact(inp, 8 * n), "<u8")
            for episode, seed in zip(episodes, seeds):
                out.write(episode.reset(int(seed)).tobytes())
        elif op == b"S":
            (k,) = struct.unpack("<I", read_exact(inp, 4))
            which = np.frombuffer(read_exact(inp, 4 * k), "<u4")
            actions = np.frombuffer(read_exact(inp, 8 * k * act_dim), "<f8").reshape(k, act_dim)
            for i, action in zip(which, actions):
                obs, reward, terminated, truncated, success = episodes[int(i)].step(action, low, high)
                out.write(obs.tobytes())
                out.write(struct.pack("<dBBB", reward, terminated, truncated, success))
        elif op == b"Q":
            return
        else:
            sys.exit(f"antmaze server: unknown request {op!r}")
        out.flush()


if __name__ == "__main__":
    main()
