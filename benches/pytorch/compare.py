#!/usr/bin/env python3
"""One markdown table per environment: qipo's steps/s per stage (`qipo bench train --json`)
beside the PyTorch baseline's (qipo_torch.py --json), with qipo's speed-up over each mode.

    python3 benches/pytorch/compare.py QIPO_TRAIN_JSON TORCH_JSON [TORCH_JSON ...]

A PyTorch file holds one run or {"runs": [...]} (--mode both). Speed-up is how many times
faster qipo is: rate / rate for steps/s and actions/s, time / time for times.
"""

import json
import sys


def load_runs(paths: list[str]) -> list[dict]:
    """Every PyTorch run in the files, in order."""
    runs = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        runs += data["runs"] if "runs" in data else [data]
    return runs


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _with_record(stage: dict) -> float | None:
    """qipo's steps/s counting the host time to record each step, which PyTorch's wall clock
    includes (it launches while it runs)."""
    record = stage.get("record_us_per_step")
    if record is None:
        return None
    return 1.0 / (1.0 / stage["steps_per_s"] + record * 1e-6)


def compare_table(qipo: dict, runs: list[dict]) -> str:
    """The markdown comparison of qipo's results with each PyTorch run's."""
    labels = [run.get("mode", f"run {i + 1}") for i, run in enumerate(runs)]
    # `qipo bench --json` describes the device as an object, `qipo bench train --json` as a line.
    device = qipo["device"]["description"] if isinstance(qipo["device"], dict) else qipo["device"]
    out = [
        f"qipo: {device}",
        "qipo / X: how many times faster qipo is than X (above 1: qipo is faster).",
    ]
    for label, run in zip(labels, runs):
        out.append(f"PyTorch {label}: {run.get('framework', 'PyTorch')} on {run['device']}")
    for label, run in zip(labels, runs):
        # The PyTorch steps train one seed; qipo's sizes name their seeds.
        ours = {k: v for k, v in qipo["sizes"].items() if (k, v) != ("seeds", 1)}
        if run["sizes"] != ours:
            out.append(f"WARNING: the {label} run used other sizes than qipo's: {run['sizes']} vs {ours}")

    for env in qipo["environments"]:
        theirs = [next((e for e in run["environments"] if e["env"] == env["env"]), None) for run in runs]
        out += ["", f"### {env['env']} (observations {env['obs_dim']}, actions {env['act_dim']})", ""]
        header = ["line", "qipo", "qipo incl. record"] + labels + [f"qipo / {label}" for label in labels]
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

        def row(name: str, mine, recorded, others: list, faster_is_larger: bool, digits: int = 1) -> None:
            ratios = [
                None if mine is None or other is None else (mine / other if faster_is_larger else other / mine)
                for other in others
            ]
            cells = [name, _number(mine, digits), _number(recorded, digits)]
            cells += [_number(other, digits) for other in others] + [_ratio(r) for r in ratios]
            out.append("| " + " | ".join(cells) + " |")

        for stage in env["stages"]:
            others = []
            for e in theirs:
                match = next((s for s in e["stages"] if s["stage"] == stage["stage"]), None) if e else None
                others.append(match["steps_per_s"] if match else None)
            row(f"{stage['stage']} (steps/s)", stage["steps_per_s"], _with_record(stage), others, True)

        sampling = [e["sampling"] if e else {} for e in theirs]
        mine = env["sampling"]
        eval_states = qipo["sizes"]["eval_states"]
        for key, name, larger, digits in [
            ("support_actions_per_s", "support sampling (actions/s)", True, 0),
            ("renewal_s", "renewal (s)", False, 3),
            ("action_latency_ms", f"one action for each of {eval_states} states (ms, median)", False, 2),
        ]:
            row(name, mine.get(key), None, [s.get(key) for s in sampling], larger, digits)
    return "\n".join(out) + "\n"


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip())
    with open(sys.argv[1]) as f:
        qipo = json.load(f)
    print(compare_table(qipo, load_runs(sys.argv[2:])), end="")


if __name__ == "__main__":
    main()
