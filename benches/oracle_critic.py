#!/usr/bin/env python3
"""Give a run a critic whose ranking is known, to tell QIPO's machinery from its critic.

    python3 benches/oracle_critic.py critic RUN/seed0 --env halfcheetah --scale 1 [--mix 0.5]
    python3 benches/oracle_critic.py unlock RUN/seed0

`critic` replaces the run's trained critic (both heads and their targets) with

    Q(s, a) = (1 - mix) * oracle(s, a) + mix * Q_trained(s, a),
    oracle(s, a) = -scale * || a - (W s + c) ||_1,

where (W, c) is the expert linear policy of the data generator (shared/datasets/make_dataset.py,
whose datasets are made by that policy plus noise): the oracle prefers the actions nearest
the expert's. It is written exactly as a ReLU network, the trained critic and the oracle side
by side: [a, s] -> H + 2A -> H + 2A -> 1, with |x| = relu(x) + relu(-x) and a second layer
that passes the oracle's units through. The file keeps the trained critic's optimiser
moments out (zeros); the policy stage never reads them.

`unlock` drops the settings checksum from a run's state and checkpoints, so that a copy of a
run, stopped at the start of the policy stage, resumes with other policy settings (qipo refuses
changed settings otherwise). Set `critic_net.hidden` in the copy's config.toml to the width
`critic` prints. Both edit the files in place: use them on a copy.

Needs numpy and the data generator (--generator, default ../shared/datasets/make_dataset.py
beside the project).
"""

import argparse
import glob
import importlib.util
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GENERATOR = os.path.join(HERE, "..", "..", "shared", "datasets", "make_dataset.py")


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {name: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4").copy()
               for name, v in header.items()}
    return meta, tensors


def write_safetensors(path, meta, tensors):
    header = {"__metadata__": meta}
    offset, blobs = 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4").ravel()
        header[name] = {"dtype": "F32", "shape": [a.size], "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(tmp, path)


def forget_settings(meta):
    # The checksum covers the metadata edited here; the identity pins the settings.
    meta.pop("checksum.crc32", None)
    meta.pop("run.state", None)


def mixed_critic(params, spec, W, c, scale, mix):
    """The trained critic's flat parameters (layer by layer: W out x in, then b) beside the oracle."""
    inp, hidden = spec["input"], spec["hidden"]
    if len(hidden) != 2 or hidden[0] != hidden[1]:
        sys.exit(f"critic {hidden}: only two hidden layers of one width are supported")
    h = hidden[0]
    A, S = W.shape
    if inp != A + S:
        sys.exit(f"critic input {inp} is not actions {A} + states {S} of the expert policy")
    o = 0

    def take(n):
        nonlocal o
        o += n
        return params[o - n:o]

    w1, b1 = take(h * inp).reshape(h, inp), take(h)
    w2, b2 = take(h * h).reshape(h, h), take(h)
    w3, b3 = take(h).reshape(1, h), take(1)
    assert o == params.size, "critic parameters do not match their spec"
    H = h + 2 * A
    L1w, L1b = np.zeros((H, inp)), np.zeros(H)
    L1w[:h], L1b[:h] = w1, b1
    for k in range(A):  # units a_k - t_k and t_k - a_k, t = W s + c; the input is [a, s]
        r = h + 2 * k
        L1w[r, k], L1w[r, A:], L1b[r] = 1, -W[k], -c[k]
        L1w[r + 1, k], L1w[r + 1, A:], L1b[r + 1] = -1, W[k], c[k]
    L2w, L2b = np.zeros((H, H)), np.zeros(H)
    L2w[:h, :h], L2b[:h] = w2, b2
    L2w[np.arange(h, H), np.arange(h, H)] = 1
    L3w = np.zeros((1, H))
    L3w[0, :h], L3w[0, h:] = mix * w3[0], -(1 - mix) * scale
    return np.concatenate([L1w.ravel(), L1b, L2w.ravel(), L2b, L3w.ravel(), mix * b3]), H


def critic(args):
    spec = importlib.util.spec_from_file_location("make_dataset", args.generator)
    md = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(md)
    policy_dir, index = md.load_index(args.env, md.POLICY_DIR)
    W, c = md.LinearPolicy(os.path.join(policy_dir, index["expert"])).affine()
    path = os.path.join(args.run, "checkpoints", "critic.safetensors")
    meta, tensors = read_safetensors(path)
    forget_settings(meta)
    heads = [k[:-len(".params")] for k in tensors if k.endswith(".params")]
    width = None
    for head in heads:
        head_spec = json.loads(meta[head + ".spec"])
        tensors[head + ".params"], width = mixed_critic(tensors[head + ".params"], head_spec, W, c, args.scale,
                                                        args.mix)
        head_spec["hidden"] = [width, width]
        meta[head + ".spec"] = json.dumps(head_spec, separators=(",", ":"))
    for name in tensors:
        if name.endswith(".adam_m") or name.endswith(".adam_v"):
            tensors[name] = np.zeros(tensors[name.rsplit(".", 1)[0] + ".params"].size)
    write_safetensors(path, meta, tensors)
    previous = os.path.join(args.run, "checkpoints", "critic.previous.safetensors")
    if os.path.exists(previous):
        os.remove(previous)
    print(f"{path}: oracle critic, scale {args.scale}, mix {args.mix}; set critic_net.hidden = [{width}, {width}]")


def unlock(args):
    for path in glob.glob(os.path.join(args.run, "checkpoints", "*.safetensors")):
        meta, tensors = read_safetensors(path)
        forget_settings(meta)
        write_safetensors(path, meta, tensors)
    state_path = os.path.join(args.run, "state.json")
    state = json.load(open(state_path))
    state.pop("config_checksum", None)
    json.dump(state, open(state_path, "w"))
    print(f"{args.run}: settings unlocked")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("critic", help="replace the run's critic by the oracle (mixed with it)")
    c.add_argument("run", help="one seed's run directory")
    c.add_argument("--env", required=True, choices=["halfcheetah", "hopper", "walker2d"])
    c.add_argument("--scale", type=float, default=1.0, help="the oracle's Q per unit of L1 distance")
    c.add_argument("--mix", type=float, default=0.0, help="share of the trained critic, in [0, 1]")
    c.add_argument("--generator", default=DEFAULT_GENERATOR, help="path of make_dataset.py")
    u = sub.add_parser("unlock", help="let a copy of the run resume with other policy settings")
    u.add_argument("run", help="one seed's run directory")
    args = p.parse_args()
    if args.command == "critic":
        if not 0.0 <= args.mix <= 1.0:
            p.error("--mix must be within [0, 1]")
        critic(args)
    else:
        unlock(args)


if __name__ == "__main__":
    main()
