"""Builds a small Minari dataset with the `minari` package itself, into the local cache at
$MINARI_DATASETS_PATH, and prints what `minari` reads back from it, as JSON.

Usage: python3 make_minari.py DATASET_ID EPISODES STEPS

Random actions in gymnasium's Hopper-v5; episodes end at a fall or after STEPS steps
(truncated). The reference scores given to minari are far from D4RL's hopper returns, so that
a reader that normalised with D4RL's would show. Nothing is downloaded. Used by
tests/data_minari_cache.rs.
"""
import json
import sys
import warnings

import gymnasium as gym
import minari
import numpy as np
from minari.data_collector import EpisodeBuffer

REF_MIN, REF_MAX = -10.0, 1000.0


def main():
    dataset_id, episodes, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    env = gym.make("Hopper-v5")
    env.action_space.seed(0)
    buffers = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        observations, actions, rewards, terminations, truncations = [obs], [], [], [], []
        for t in range(steps):
            action = env.action_space.sample()
            obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated or t + 1 == steps)
            if terminations[-1] or truncations[-1]:
                break
        buffers.append(
            EpisodeBuffer(
                id=episode,
                seed=episode,
                observations=np.array(observations),
                actions=np.array(actions),
                rewards=rewards,
                terminations=terminations,
                truncations=truncations,
                infos={},
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # minari warns that no eval_env was given
        minari.create_dataset_from_buffers(
            dataset_id,
            buffers,
            env="Hopper-v5",
            algorithm_name="random",
            ref_min_score=REF_MIN,
            ref_max_score=REF_MAX,
            data_format="hdf5",
        )

    # What minari itself reads back, without downloading anything.
    dataset = minari.load_dataset(dataset_id)
    returns = [float(np.sum(episode.rewards)) for episode in dataset.iterate_episodes()]
    first = next(iter(dataset.iterate_episodes()))
    json.dump(
        {
            "episodes": dataset.total_episodes,
            "steps": dataset.total_steps,
            "returns": returns,
            "normalized_score_of_mean": float(minari.get_normalized_score(dataset, np.mean(returns))),
            "first_observation": first.observations[0].tolist(),
            "first_action": first.actions[0].tolist(),
            "eval_env": dataset.recover_environment(eval_env=True).spec.id,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
