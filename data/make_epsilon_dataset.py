#!/usr/bin/env python3
"""Make a mixed-quality dataset whose every state also holds other actions: a behaviour policy
that, at each step, takes the other action with probability --other-share (a uniformly random
one, or with --other another behaviour checkpoint's) and otherwise its policy's action (with
Gaussian noise).

    python3 data/make_epsilon_dataset.py --env halfcheetah --policy expert \
        --other-share 0.1 --size 20000 --seed 0 --out halfcheetah-expert-eps0.1.hdf5

Unlike a mix of whole episodes (mix_datasets.py), the good and the bad actions here share
their states, so a critic sees what the alternatives to the policy's action are worth where
the policy acts, and improvement has better actions than the data's average to find.

The rollouts, behaviour policies and file layout are make_dataset.py's (the D4RL-layout
generator kept beside the project, shared/datasets/make_dataset.py; --generator points at
it). Depends on numpy, h5py, gymnasium (with mujoco) and mujoco, like make_dataset.py.
"""

import argparse
import importlib.util
import json
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GENERATOR = os.path.join(HERE, "..", "..", "shared", "datasets", "make_dataset.py")

def load_generator(path):
    if not os.path.isfile(path):
        sys.exit(f"{path}: make_dataset.py not found (pass --generator)")
    spec = importlib.util.spec_from_file_location("make_dataset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", required=True, choices=["halfcheetah", "hopper", "walker2d"])
    p.add_argument("--policy", default="expert", choices=["medium", "expert"],
                   help="the behaviour checkpoint's role in policies/<env>/index.json")
    p.add_argument("--other-share", "--random-share", dest="other_share", type=float, required=True,
                   help="probability of the other action at each step")
    p.add_argument("--other", default="random", choices=["random", "medium", "expert"],
                   help="what the other action is: uniformly random, or another behaviour checkpoint's "
                        "(with the same noise)")
    p.add_argument("--action-noise", type=float, default=0.1, help="std of the policy actions' Gaussian noise")
    p.add_argument("--size", type=int, default=20000, help="number of transitions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--generator", default=DEFAULT_GENERATOR, help="path of make_dataset.py")
    args = p.parse_args()
    if not 0.0 <= args.other_share <= 1.0:
        p.error("--other-share must be within [0, 1]")
    if args.size <= 0:
        p.error("--size must be positive")

    md = load_generator(args.generator)
    import gymnasium as gym
    import mujoco

    env = gym.make(md.ENV_IDS[args.env], max_episode_steps=md.MAX_EPISODE_STEPS)
    low = env.action_space.low.astype(np.float64)
    high = env.action_space.high.astype(np.float64)
    policy_dir, index = md.load_index(args.env, md.POLICY_DIR)
    policy_file = index[args.policy]
    weights, bias = md.LinearPolicy(os.path.join(policy_dir, policy_file)).affine()
    if args.other != "random":
        other_weights, other_bias = md.LinearPolicy(os.path.join(policy_dir, index[args.other])).affine()
    model = env.unwrapped.model
    buf = md.Buffer(args.size, env.observation_space.shape[0], env.action_space.shape[0], model.nq, model.nv)

    def factory(rng):
        def act(obs):
            if rng.random() < args.other_share:
                if args.other == "random":
                    return rng.uniform(low, high)
                noise = args.action_noise * rng.standard_normal(len(low))
                return np.clip(other_weights @ obs + other_bias + noise, low, high)
            noise = args.action_noise * rng.standard_normal(len(low))
            return np.clip(weights @ obs + bias + noise, low, high)
        return act

    # The policy's own segment key: its random stream is make_dataset.py's for that policy.
    segment = md.SEG_EXPERT if args.policy == "expert" else md.SEG_MEDIUM
    md.run_segment(env, buf, args.size, segment, args.seed, factory)
    returns = np.asarray(buf.ep_returns, dtype=np.float64)
    mean_return = float(returns.mean())
    score = md.normalized_score(args.env, mean_return)

    with h5py.File(args.out, "w") as f:
        for name, array in (("observations", buf.obs), ("actions", buf.act), ("rewards", buf.rew),
                            ("terminals", buf.term), ("timeouts", buf.tout),
                            ("next_observations", buf.next_obs), ("infos/qpos", buf.qpos),
                            ("infos/qvel", buf.qvel)):
            f.create_dataset(name, data=array, compression="gzip")
        a = f.attrs
        a["env_id"] = md.ENV_IDS[args.env]
        a["env_name"] = f"{args.env}-{args.policy}-epsilon"
        a["kind"] = f"{args.policy}-epsilon"
        a["seed"] = args.seed
        a["size"] = args.size
        a["other_share"] = args.other_share
        a["other_action"] = args.other
        a["action_noise_std"] = args.action_noise
        a["behaviour_policy"] = policy_file
        a["max_episode_steps"] = md.MAX_EPISODE_STEPS
        a["mean_episode_return"] = mean_return
        a["mean_normalized_score"] = score
        a["episodes"] = len(returns)
        a["gymnasium_version"] = gym.__version__
        a["mujoco_version"] = mujoco.__version__
        a["numpy_version"] = np.__version__
        a["h5py_version"] = h5py.__version__
    print(json.dumps({"out": args.out, "episodes": len(returns), "mean_return": round(mean_return, 1),
                      "score": round(score, 2)}))


if __name__ == "__main__":
    main()
