#!/usr/bin/env python3
"""PyTorch baseline of `qipo bench train`: the same QIPO training steps on the same synthetic
hopper- and halfcheetah-shaped data, timed the same way, reported under the same JSON keys
(src/bench/train.rs), in eager PyTorch and with torch.compile(mode="reduce-overhead"), which
replays each compiled step as CUDA graphs.

    python3 benches/pytorch/qipo_torch.py [--device cuda|cpu] [--mode eager|graphs|both] [--quick] [--json]
"""

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import numpy as np
import torch

from nets import TwinCritic, VelocityNet, value_net
from stages import BehaviourTrainer, CriticTrainer, DeviceDataset, EulerSampler, PolicyImprover

# (environment, observation width, action width), as qipo's ENVIRONMENTS.
ENVIRONMENTS = [("hopper", 11, 3), ("halfcheetah", 17, 6)]
HIDDEN_LAYERS = 3


@dataclass
class Sizes:
    """The sizes of one run, named as in qipo's TrainBenchSizes. A "submit" here is one timed
    run of `steps_per_submit` steps between two synchronisations."""

    transitions: int = 100_000
    batch: int = 256
    support_actions: int = 16
    hidden: int = 256
    time_features: int = 32
    euler_steps: int = 10
    steps_per_submit: int = 200
    warmup_steps: int = 10
    timed_submits: int = 3
    eval_states: int = 10
    latency_calls: int = 30


PAPER = Sizes()
QUICK = replace(
    PAPER,
    transitions=1_024,
    batch=32,
    support_actions=4,
    hidden=64,
    steps_per_submit=50,
    warmup_steps=5,
    latency_calls=20,
)


def synthetic_dataset(obs_dim: int, act_dim: int, n: int, seed: int) -> dict[str, np.ndarray]:
    """Random transitions like qipo's synthetic_dataset: observations ~ U(-3, 3), actions in
    [-1, 1], rewards in [0, 1), 1% terminals. Speed depends on the shapes, not the values."""
    rng = np.random.default_rng(seed)
    uniform = lambda shape, scale: rng.uniform(-scale, scale, shape).astype(np.float32)  # noqa: E731
    return {
        "observations": uniform((n, obs_dim), 3.0),
        "next_observations": uniform((n, obs_dim), 3.0),
        "actions": uniform((n, act_dim), 1.0),
        "rewards": uniform(n, 0.5) + 0.5,
        "dones": (uniform(n, 0.5) > 0.49).astype(np.float32),
    }


class Timer:
    """Wall clock around many calls, synchronised at both ends, and CUDA events around the same
    calls (qipo's GPU timestamps)."""

    def __init__(self, device: torch.device, sizes: Sizes, graphs: bool):
        self.cuda = device.type == "cuda"
        self.sizes = sizes
        self.graphs = graphs

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def call(self, fn: Callable[[], object], times: int) -> None:
        for _ in range(times):
            fn()

    def warmup(self, count: int) -> int:
        # Compilation, then CUDA graph recording, take the first calls: give them three.
        return max(count, 3) if self.graphs else count

    def median(self, fn: Callable[[], object], warmup: int, reps: int) -> tuple[float, float | None]:
        """(wall seconds, GPU seconds or None) of the median of `timed_submits` runs of `reps`
        calls, after `warmup` untimed calls."""
        self.call(fn, self.warmup(warmup))
        self.sync()
        runs = []
        for _ in range(max(self.sizes.timed_submits, 1)):
            events = [torch.cuda.Event(enable_timing=True) for _ in range(2)] if self.cuda else None
            if events:
                events[0].record()
            start = time.perf_counter()
            self.call(fn, reps)
            if events:
                events[1].record()
            self.sync()
            wall = time.perf_counter() - start
            runs.append((wall, events[0].elapsed_time(events[1]) / 1e3 if events else None))
        runs.sort(key=lambda run: run[0])
        return runs[len(runs) // 2]

    def stage(self, name: str, step: Callable[[], None]) -> dict:
        steps = self.sizes.steps_per_submit
        wall, gpu = self.median(step, self.sizes.warmup_steps, steps)
        return {
            "stage": name,
            "steps": steps,
            "steps_per_s": steps / wall,
            "gpu_steps_per_s": steps / gpu if gpu else None,
            "seconds_per_100k": 1e5 * wall / steps,
            # PyTorch launches while it runs: host time is inside steps_per_s.
            "record_us_per_step": None,
            "dispatches_per_step": None,
        }


def compiler(mode: str) -> Callable[[Callable], Callable]:
    if mode == "eager":
        return lambda fn: fn
    # One compiled graph per shape (sampling chunks, the last chunk, evaluation) and per network
    # or optimiser instance: more than dynamo's default number of recompilations.
    torch._dynamo.config.cache_size_limit = 64

    def compile(fn: Callable) -> Callable:
        compiled = torch.compile(fn, mode="reduce-overhead", dynamic=False)

        def call(*args):
            # Every call is a new iteration: callers copy out or drop what the last one returned,
            # so its CUDA graph memory may be reused.
            torch.compiler.cudagraph_mark_step_begin()
            return compiled(*args)

        return call

    return compile


def keep_in_place(mode: str, *tensors: torch.Tensor) -> None:
    """Tells CUDA graphs that these tensors, which compiled steps read, never move; otherwise
    every replay first copies them into the graph's own input memory."""
    if mode == "graphs":
        for tensor in tensors:
            torch._dynamo.mark_static_address(tensor)


def action_latency(
    sampler: EulerSampler, states_host: torch.Tensor, device: torch.device, timer: Timer
) -> tuple[float, float]:
    """Milliseconds per call of the evaluation path: copy the states to the device, one action
    each by the Euler sampler, read the actions back. Median and fastest after three warm-ups."""

    def call() -> float:
        start = time.perf_counter()
        sampler.sample(states_host.to(device), 1).cpu()  # the copy back waits for the device
        return (time.perf_counter() - start) * 1e3

    for _ in range(timer.warmup(3)):
        call()
    ms = sorted(call() for _ in range(max(timer.sizes.latency_calls, 1)))
    return ms[len(ms) // 2], ms[0]


def bench_env(env: tuple[str, int, int], sizes: Sizes, device: torch.device, mode: str, progress) -> dict:
    """Every stage at one environment's shapes, in the order a run meets them."""
    name, obs_dim, act_dim = env
    torch.manual_seed(1)
    compile = compiler(mode)
    timer = Timer(device, sizes, graphs=mode == "graphs")
    host = synthetic_dataset(obs_dim, act_dim, sizes.transitions, seed=1)
    data = DeviceDataset(**{key: torch.from_numpy(value).to(device) for key, value in host.items()})
    keep_in_place(mode, *vars(data).values())
    hidden = [sizes.hidden] * HIDDEN_LAYERS
    m = sizes.support_actions
    policy = VelocityNet(act_dim, obs_dim, hidden, sizes.time_features, time_scale=30.0).to(device)
    sampler = EulerSampler(policy, sizes.euler_steps, compile)
    stages = []

    progress(f"{name}: behaviour pretraining")
    behaviour = BehaviourTrainer(data, policy, sizes.batch, lr=1e-4, compile=compile)
    stages.append(timer.stage("behaviour pretraining", behaviour.step))
    del behaviour

    progress(f"{name}: support sampling ({len(data) * m} actions)")
    next_support = torch.zeros(len(data), m, act_dim, device=device)
    keep_in_place(mode, next_support)
    support_s, _ = timer.median(lambda: sampler.fill(data.next_observations, next_support), 1, 1)

    for stage, iql in [("critic (softmax)", False), ("critic (IQL)", True)]:
        progress(f"{name}: {stage}")
        critic = TwinCritic(act_dim, obs_dim, hidden).to(device)
        value = value_net(obs_dim, hidden).to(device) if iql else None
        trainer = CriticTrainer(data, next_support, critic, value, sizes.batch, compile)
        stages.append(timer.stage(stage, trainer.step))
        del trainer

    progress(f"{name}: renewal and policy improvement")
    critic = TwinCritic(act_dim, obs_dim, hidden).to(device).requires_grad_(False)
    improver = PolicyImprover(data, policy, critic, sampler, m, sizes.batch, compile)
    keep_in_place(mode, improver.support, improver.weights)
    renewal_s, renewal_gpu_s = timer.median(improver.renew, 1, 1)
    stages.append(timer.stage("policy improvement", improver.step))
    del improver

    progress(f"{name}: one action for each of {sizes.eval_states} states")
    states_host = torch.from_numpy(host["observations"][: sizes.eval_states])
    latency_ms, latency_min_ms = action_latency(sampler, states_host, device, timer)

    return {
        "env": name,
        "obs_dim": obs_dim,
        "act_dim": act_dim,
        "stages": stages,
        "sampling": {
            "renewal_s": renewal_s,
            "renewal_gpu_s": renewal_gpu_s,
            "renewal_dispatches": None,
            "support_sampling_s": support_s,
            "support_actions_per_s": len(data) * m / support_s,
            "action_latency_ms": latency_ms,
            "action_latency_min_ms": latency_min_ms,
        },
    }


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    threads = torch.get_num_threads()
    return f"CPU, {threads} thread{'' if threads == 1 else 's'}"


def run(sizes: Sizes, device: torch.device, mode: str, envs: list, progress) -> dict:
    """One mode over the environments, as the JSON object `qipo bench train --json` prints, with
    the framework and mode added."""
    return {
        "device": describe(device),
        "framework": f"PyTorch {torch.__version__}",
        "mode": mode,
        "gpu_timestamps": device.type == "cuda",
        "sizes": asdict(sizes),
        "environments": [bench_env(env, sizes, device, mode, progress) for env in envs],
    }


def duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_table(result: dict) -> str:
    s = result["sizes"]
    out = f"QIPO training stages in {result['framework']} ({result['mode']}) on {result['device']}\n"
    out += (
        f"{s['transitions']} synthetic transitions, batch {s['batch']}, M = {s['support_actions']}, "
        f"policy {HIDDEN_LAYERS}x{s['hidden']} Mish with {s['time_features']} Fourier features, "
        f"critic {HIDDEN_LAYERS}x{s['hidden']} ReLU, {s['euler_steps']} Euler steps; median of "
        f"{s['timed_submits']} runs of {s['steps_per_submit']} steps each\n"
    )
    for env in result["environments"]:
        out += f"\n{env['env']} (observations {env['obs_dim']}, actions {env['act_dim']})\n"
        out += f"  {'stage':<22} {'steps/s':>9} {'GPU steps/s':>13} {'per 100k steps':>16}\n"
        for r in env["stages"]:
            gpu = f"{r['gpu_steps_per_s']:.1f}" if r["gpu_steps_per_s"] else "-"
            out += f"  {r['stage']:<22} {r['steps_per_s']:>9.1f} {gpu:>13} {duration(r['seconds_per_100k']):>16}\n"
        p = env["sampling"]
        out += f"  renewal ({s['transitions']} states x {s['support_actions']} actions, Q, weights): "
        out += f"{duration(p['renewal_s'])}\n"
        out += f"  support sampling: {p['support_actions_per_s']:.0f} actions/s "
        out += f"({duration(p['support_sampling_s'])})\n"
        out += (
            f"  one action for each of {s['eval_states']} states: {p['action_latency_ms']:.2f} ms median, "
            f"{p['action_latency_min_ms']:.2f} ms fastest of {s['latency_calls']} calls\n"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--mode",
        choices=["eager", "graphs", "both"],
        default="both",
        help='graphs: torch.compile(mode="reduce-overhead"), CUDA graphs on a GPU',
    )
    parser.add_argument("--quick", action="store_true", help="small sizes that finish in seconds on a CPU")
    parser.add_argument(
        "--env", action="append", choices=[e[0] for e in ENVIRONMENTS], help="only these, repeatable (default: all)"
    )
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matrix products (qipo computes in f32)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    args = parser.parse_args()

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: PyTorch sees no CUDA device (use --device cpu)")
    torch.set_float32_matmul_precision("high" if args.tf32 else "highest")
    device = torch.device(args.device)
    sizes = QUICK if args.quick else PAPER
    envs = [e for e in ENVIRONMENTS if not args.env or e[0] in args.env]
    modes = ["eager", "graphs"] if args.mode == "both" else [args.mode]
    progress = lambda what: print(f"bench: {what}", file=sys.stderr, flush=True)  # noqa: E731

    results = []
    for mode in modes:
        result = run(sizes, device, mode, envs, lambda what, mode=mode: progress(f"{mode}: {what}"))
        results.append(result)
        if not args.json:
            print(format_table(result), flush=True)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else {"runs": results}, indent=2))


if __name__ == "__main__":
    main()
