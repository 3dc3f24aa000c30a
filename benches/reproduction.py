#!/usr/bin/env python3
"""The reproduction slice of benches/gpu_run.sh: QIPO against flow behaviour cloning (the same
run with policy.beta = 0) on D4RL-style datasets, several seeds each, step counts sized to a
time budget from the steps/s that `qipo bench train --json` measured on the same machine.

    python3 benches/reproduction.py size --rates FILE [FILE ...] --env ENV --transitions N
        --seeds S --episodes E --budget SECONDS [--overhead SECONDS]
    python3 benches/reproduction.py record --slice FILE --dataset NAME --variant qipo|bc
        --inspect FILE --run-dir DIR --steps B C P --estimate SECONDS --wall SECONDS --status STATUS
    python3 benches/reproduction.py table --slice FILE

`size` prints "BEHAVIOUR CRITIC POLICY LOG_EVERY" on stdout and how it chose them on stderr.
`record` adds one finished (or failed) run to the slice's JSON file; `table` prints the one
table: the dataset's own score, flow BC's and QIPO's, mean ± standard error over seeds.
"""

import argparse
import json
import math
import os
import sys

try:
    import tomllib  # Python 3.11+; without it the runs' settings are left out
except ImportError:
    tomllib = None

# The paper's step counts (ALGORITHM.md: K1 = 200k, K2 = 500k, K3 = 100k, renewals every 20k):
# a short run keeps their proportions and never goes beyond them.
PAPER_STEPS = {"behaviour": 200_000, "critic": 500_000, "policy": 100_000}
RENEW_EVERY = 20_000
# The fewest steps of a stage, so that every stage runs even on a budget too small for them.
MIN_STEPS = {"behaviour": 20, "critic": 50, "policy": 10}
# Share of the budget the estimate aims at: the rest absorbs what the model leaves out.
SAFETY = 0.8
# Environment steps per second of one MuJoCo episode on one core, a low guess for any locomotion
# task (hopper's is about 11 000, halfcheetah's 44 000; benches/RESULTS.md).
ENV_STEPS_PER_S = 10_000
EPISODE_STEPS = 1000

STAGES = {"behaviour": "behaviour pretraining", "policy": "policy improvement"}
CRITIC_STAGES = ["critic (softmax)", "critic (IQL)"]


def load_rates(paths: list[str]) -> tuple[str, dict]:
    """The first file among `paths` that holds a `qipo bench train --json` (or `qipo bench
    --json`) object."""
    for path in paths:
        try:
            with open(path) as f:
                data = json.load(f)
            if data.get("environments"):
                return path, data
        except (OSError, ValueError):
            continue
    sys.exit(f"reproduction: no steps/s measured: none of {', '.join(paths)} holds a qipo bench JSON object")


def seconds_per_step(stage: dict) -> float:
    """Wall time of one training step: the GPU's (steps/s counts submit and wait) plus the host's
    time to record it, which a run spends before each submit."""
    return 1.0 / stage["steps_per_s"] + (stage.get("record_us_per_step") or 0.0) * 1e-6


def size(args: argparse.Namespace) -> None:
    path, bench = load_rates(args.rates)
    env = next((e for e in bench["environments"] if e["env"] == args.env), None)
    if env is None:
        sys.exit(f"reproduction: {path} has no measurement of {args.env}")
    stages = {s["stage"]: s for s in env["stages"]}
    sizes = bench["sizes"]
    # The bench trained `bench_seeds` seeds per step; more seeds here cost at most in proportion.
    slower = max(1.0, args.seeds / sizes.get("seeds", 1))
    per_step = {name: seconds_per_step(stages[stage]) * slower for name, stage in STAGES.items()}
    # The critic's kind is the preset's: take the slower of the two.
    per_step["critic"] = max(seconds_per_step(stages[s]) for s in CRITIC_STAGES) * slower
    per_state = slower / sizes["transitions"]
    sampling = env["sampling"]
    support_s = sampling["support_sampling_s"] * per_state * args.transitions
    renewal_s = sampling["renewal_s"] * per_state * args.transitions
    # Each seed's final evaluation: its episodes stepped together, one sampling call per step.
    step_s = sampling["action_latency_ms"] * 1e-3 + args.episodes / ENV_STEPS_PER_S
    eval_s = args.seeds * EPISODE_STEPS * step_s

    unit_s = sum(PAPER_STEPS[name] * per_step[name] for name in PAPER_STEPS)
    fixed_s = args.overhead + support_s + eval_s
    fraction = 0.0
    for _ in range(3):  # the renewals depend on the policy steps chosen
        renewals = 2 + math.floor(fraction * PAPER_STEPS["policy"] / RENEW_EVERY)
        fraction = (args.budget * SAFETY - fixed_s - renewals * renewal_s) / unit_s
    fraction = min(max(fraction, 0.0), 1.0)
    steps = {name: max(MIN_STEPS[name], round(fraction * PAPER_STEPS[name])) for name in PAPER_STEPS}
    renewals = 2 + steps["policy"] // RENEW_EVERY
    estimate = fixed_s + renewals * renewal_s + sum(steps[n] * per_step[n] for n in steps)
    log_every = max(1, min(1000, steps["behaviour"] // 20))

    floor = " (the fewest steps: the budget does not cover even these)" if fraction * PAPER_STEPS["policy"] < 1 else ""
    print(
        f"reproduction: {args.env}, {args.seeds} seeds, budget {args.budget:.0f} s: steps/s from {path} "
        f"({sizes.get('seeds', 1)} seeds per step); seconds per step: behaviour {per_step['behaviour']:.2e}, "
        f"critic {per_step['critic']:.2e}, policy {per_step['policy']:.2e}; support sampling {support_s:.1f} s, "
        f"renewal {renewal_s:.1f} s, evaluation {eval_s:.1f} s, start-up {args.overhead:.0f} s; "
        f"{fraction:.2%} of the paper's steps{floor}: behaviour {steps['behaviour']}, critic {steps['critic']}, "
        f"policy {steps['policy']}, estimated {estimate:.0f} s",
        file=sys.stderr,
    )
    print(steps["behaviour"], steps["critic"], steps["policy"], log_every, round(estimate))


def read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def run_settings(run_dir: str) -> dict | None:
    """The settings the first seed ran with (config.toml of the run's first seed)."""
    index = read_json(os.path.join(run_dir, "seeds.json"))
    if tomllib is None or not index or not index.get("runs"):
        return None
    try:
        with open(os.path.join(run_dir, index["runs"][0], "config.toml"), "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return None


def record(args: argparse.Namespace) -> None:
    data = read_json(args.slice) or {"datasets": {}, "runs": []}
    inspect = read_json(args.inspect) or {}
    data["datasets"][args.dataset] = {
        "file": inspect.get("file"),
        "transitions": inspect.get("transitions"),
        "episodes": inspect.get("episodes"),
        "score": inspect.get("normalized_score"),
    }
    index = read_json(os.path.join(args.run_dir, "seeds.json")) or {}
    settings = run_settings(args.run_dir)
    behaviour, critic, policy = args.steps
    data["runs"].append(
        {
            "dataset": args.dataset,
            "variant": args.variant,
            "status": args.status,
            "steps": {"behaviour": behaviour, "critic": critic, "policy": policy},
            "estimated_s": args.estimate,
            "wall_s": args.wall,
            "seeds": index.get("seeds"),
            "evaluation": index.get("evaluation"),
            "settings": settings,
        }
    )
    with open(args.slice + ".tmp", "w") as f:
        json.dump(data, f, indent=2)
    os.replace(args.slice + ".tmp", args.slice)


def score_cell(run: dict | None) -> str:
    if run is None:
        return "not run"
    evaluation = run.get("evaluation")
    if not evaluation:
        return f"n/a ({run['status']})"
    return f"{evaluation['score_mean']:.1f} ± {evaluation['score_stderr']:.1f}"


def table(args: argparse.Namespace) -> None:
    data = read_json(args.slice)
    if not data or not data.get("runs"):
        sys.exit(f"reproduction: {args.slice} holds no runs")
    runs = {(r["dataset"], r["variant"]): r for r in data["runs"]}
    evaluated = [r["evaluation"] for r in data["runs"] if r.get("evaluation")]
    seeds = sorted({len(e["scores"]) for e in evaluated})
    episodes = sorted({e["episodes_per_seed"] for e in evaluated})
    join = lambda values: "/".join(map(str, values)) or "?"  # noqa: E731
    lines = [
        f"reproduction slice: D4RL score, mean ± standard error over {join(seeds)} seeds, "
        f"{join(episodes)} evaluation episodes per seed; flow BC is the same run with policy.beta = 0",
        "",
        "| dataset | steps per seed (behaviour / critic / policy) | dataset score | flow BC | QIPO |",
        "|---|---|---:|---:|---:|",
    ]
    for name, dataset in data["datasets"].items():
        qipo, bc = runs.get((name, "qipo")), runs.get((name, "bc"))
        steps = (qipo or bc)["steps"]
        score = "n/a" if dataset.get("score") is None else f"{dataset['score']:.1f}"
        lines.append(
            f"| {name} | {steps['behaviour']} / {steps['critic']} / {steps['policy']} | {score} "
            f"| {score_cell(bc)} | {score_cell(qipo)} |"
        )
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("size", help="step counts that fit a time budget")
    p.add_argument("--rates", nargs="+", required=True, help="qipo bench JSON files, the first readable one is used")
    p.add_argument("--env", required=True, help="the environment whose shapes were measured: hopper or halfcheetah")
    p.add_argument("--transitions", type=int, required=True)
    p.add_argument("--seeds", type=int, required=True)
    p.add_argument("--episodes", type=int, required=True, help="evaluation episodes per seed")
    p.add_argument("--budget", type=float, required=True, help="seconds the whole run may take")
    p.add_argument("--overhead", type=float, default=10.0, help="seconds of start-up, checkpoints and plots")
    p.set_defaults(run=size)
    p = commands.add_parser("record", help="add one run to the slice's JSON file")
    p.add_argument("--slice", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--variant", choices=["qipo", "bc"], required=True)
    p.add_argument("--inspect", required=True, help="`qipo dataset inspect --json` of the dataset")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--steps", type=int, nargs=3, required=True, metavar=("BEHAVIOUR", "CRITIC", "POLICY"))
    p.add_argument("--estimate", type=float, required=True)
    p.add_argument("--wall", type=float, required=True)
    p.add_argument("--status", required=True)
    p.set_defaults(run=record)
    p = commands.add_parser("table", help="the slice's one table")
    p.add_argument("--slice", required=True)
    p.set_defaults(run=table)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
