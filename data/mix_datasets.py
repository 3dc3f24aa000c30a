#!/usr/bin/env python3
"""Concatenate D4RL-layout HDF5 files into one mixed-quality dataset.

    python3 data/mix_datasets.py OUT.hdf5 PART.hdf5 [PART.hdf5 ...]

Every part must hold the same arrays with the same trailing shapes (parts made by
make_dataset.py for one env do). Episodes are kept whole and in order, so every part's last
transition must end an episode (a terminal or a timeout): make_dataset.py ends each file so.
OUT takes the first part's attributes, with `kind`, `size`, `mean_episode_return` and
`mean_normalized_score` recomputed over the whole and the parts recorded in `parts`.
"""

import json
import sys

import h5py
import numpy as np


def arrays(group, prefix=""):
    """Every dataset under `group`, by its path."""
    out = {}
    for name, item in group.items():
        if isinstance(item, h5py.Dataset):
            out[prefix + name] = item[()]
        else:
            out.update(arrays(item, prefix + name + "/"))
    return out


def main(out_path, part_paths):
    parts, attrs, described = [], None, []
    for path in part_paths:
        with h5py.File(path, "r") as f:
            data = arrays(f)
            if not (data["terminals"][-1] or data["timeouts"][-1]):
                sys.exit(f"{path}: the last transition does not end an episode")
            if parts and sorted(data) != sorted(parts[0]):
                sys.exit(f"{path}: holds other arrays than {part_paths[0]}")
            parts.append(data)
            described.append({k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()
                              if k in ("kind", "seed", "size", "action_noise_std", "mean_normalized_score")})
            attrs = attrs or dict(f.attrs)
    merged = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    # Episode returns over the whole, every episode counted (the last one of each part ends it).
    ends = np.flatnonzero(merged["terminals"] | merged["timeouts"])
    returns = np.add.reduceat(merged["rewards"].astype(np.float64), np.r_[0, ends[:-1] + 1])
    low, high = attrs["ref_min_score"], attrs["ref_max_score"]
    attrs.update(kind="mixed", size=len(merged["rewards"]), parts=json.dumps(described),
                 mean_episode_return=returns.mean(),
                 mean_normalized_score=100 * (returns.mean() - low) / (high - low))

    with h5py.File(out_path, "w") as f:
        for name, value in merged.items():
            f.create_dataset(name, data=value, compression="gzip")
        f.attrs.update(attrs)
    print(f"{out_path}: {len(merged['rewards'])} transitions, {len(returns)} episodes, "
          f"normalised score {attrs['mean_normalized_score']:.1f}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    main(sys.argv[1], sys.argv[2:])
