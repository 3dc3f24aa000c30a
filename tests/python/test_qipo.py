"""The Python package against the command line: the same run, the same actions, the same
evaluation and the same error messages, a gymnasium loop with Policy.act, and Ctrl-C
stopping a run where it resumes from. Run by .ci/python-tests.sh after `pip install .`;
the `qipo` program is target/release/qipo (or $QIPO).

Runs are tiny (every stage, a few chunks of steps) on the first 2000 transitions of the
shipped hopper dataset, so that the whole file takes about a minute on a CPU driver.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import h5py
import numpy as np
import pytest

import qipo

ROOT = Path(__file__).resolve().parents[2]
QIPO = Path(os.environ.get("QIPO", ROOT / "target" / "release" / "qipo"))
SEED = 3
# Observation normalisation on, so Policy.act must apply the run's to match `qipo sample`.
OVERRIDES = {
    "behaviour.steps": 20,
    "critic.steps": 20,
    "policy.steps": 20,
    "policy.renew_every": 10,
    "run.log_every": 10,
    "run.checkpoint_every": 10,
    "data.normalize_observations": True,
}
TIMINGS = {"time_s", "steps_per_s", "actions_per_s", "seconds", "env_steps_per_s"}


def cli(*args, check=True):
    assert QIPO.is_file(), f"{QIPO} not found: build it with cargo build --release (or set QIPO)"
    done = subprocess.run([str(QIPO), *map(str, args)], capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def cli_train_args(dataset, out):
    args = ["train", "--dataset", dataset, "--out", out, "--preset", "smoke", "--seed", SEED]
    for key, value in OVERRIDES.items():
        args += ["--set", f"{key}={str(value).lower()}"]
    return args


def without_timings(record):
    return {k: v for k, v in record.items() if k not in TIMINGS}


def metrics(run):
    lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    return [without_timings(json.loads(line)) for line in lines]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The first 2000 transitions of the shipped dataset, under its name (which names the
    evaluation environment)."""
    path = tmp_path_factory.mktemp("data") / "hopper-medium-replay-v2.hdf5"
    n = 2000
    with h5py.File(ROOT / "data" / "hopper-medium-replay-v2.hdf5") as src, h5py.File(path, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        dst.attrs["size"] = n

        def copy(name, item):
            if isinstance(item, h5py.Dataset):
                dst.create_dataset(name, data=item[:n])

        src.visititems(copy)
        dst["timeouts"][n - 1] = True
    return path


@pytest.fixture(scope="module")
def cli_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    done = cli(*cli_train_args(dataset, out))
    return out, done.stdout


@pytest.fixture(scope="module")
def py_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("py") / "run"
    result = qipo.train(dataset, preset="smoke", overrides=OVERRIDES, out=out, seed=SEED)
    return out, result


def test_train_equals_the_cli_run(py_run, cli_run):
    (py_out, result), (cli_out, stdout) = py_run, cli_run
    assert (py_out / "config.toml").read_text() == (cli_out / "config.toml").read_text()
    py_metrics = metrics(py_out)
    assert [m["stage"] for m in py_metrics].count("policy") >= 2, py_metrics
    assert py_metrics == metrics(cli_out)
    py_eval, cli_eval = (json.loads((run / "eval.json").read_text()) for run in (py_out, cli_out))
    assert without_timings(py_eval) == without_timings(cli_eval)

    assert result["finished"] and not result["stopped"] and not result["already_finished"]
    assert result["run_dir"] == str(py_out)
    [seed] = result["seeds"]
    assert seed["seed"] == SEED and without_timings(seed["eval"]) == without_timings(py_eval)
    q = ", ".join(f"{seed[k]:.4f}" for k in ("q_dataset", "q_behaviour", "q_policy"))
    cli_q = stdout.split("done: mean Q of the dataset's actions ")[1].split("; wrote")[0]
    assert q == cli_q.replace(", of the behaviour policy's", ",").replace(", of the improved policy's", ",")


def test_act_equals_qipo_sample(py_run, dataset, tmp_path):
    run, _ = py_run
    with h5py.File(dataset) as f:
        states = f["observations"][:5]
    csv = tmp_path / "states.csv"
    csv.write_text(
        ",".join(f"o{i}" for i in range(states.shape[1]))
        + "\n"
        + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in states)
    )
    out = tmp_path / "actions.csv"
    cli("sample", "--checkpoint", run, "--states", csv, "--n", 3, "--seed", 7, "--out", out)
    sampled = np.loadtxt(out, delimiter=",", skiprows=1, dtype=np.float64)
    expected = sampled[:, 2:].astype(np.float32).reshape(5, 3, -1)

    policy = qipo.Policy.load(run)
    assert (policy.obs_dim, policy.act_dim, policy.network) == (11, 3, "policy")
    actions = policy.act(states, n=3, seed=7)
    assert actions.dtype == np.float32 and actions.shape == (5, 3, 3)
    np.testing.assert_array_equal(actions, expected)
    # One state, one action: the first of `qipo sample --n 1`.
    cli("sample", "--checkpoint", run, "--states", csv, "--seed", 7, "--out", out)
    first = np.loadtxt(out, delimiter=",", skiprows=1)[0, 2:].astype(np.float32)
    np.testing.assert_array_equal(policy.act(states[0], seed=7), first)
    # Without a seed the policy's own stream advances: new noise at every call.
    assert not np.array_equal(policy.act(states), policy.act(states))


def test_a_gymnasium_loop_with_policy_act(py_run):
    run, _ = py_run
    policy = qipo.Policy.load(run)
    env = gym.make("Hopper-v5")
    obs, _ = env.reset(seed=0)
    steps, total = 0, 0.0
    for _ in range(200):
        action = policy(obs)
        assert action.shape == env.action_space.shape
        obs, reward, terminated, truncated, _ = env.step(action)
        steps, total = steps + 1, total + reward
        if terminated or truncated:
            break
    assert steps > 1 and np.isfinite(total)


def test_evaluate_equals_qipo_eval(py_run):
    run, _ = py_run
    report = qipo.evaluate(run, episodes=2, seed=5)
    expected = json.loads(cli("eval", "--checkpoint", run, "--episodes", 2, "--seed", 5, "--json").stdout)
    assert without_timings(report) == without_timings(expected)
    assert report["env"] == "hopper-v4" and len(report["returns"]) == 2


def test_inspect_and_devices(dataset):
    summary = qipo.inspect(dataset)
    assert summary == json.loads(cli("dataset", "inspect", dataset, "--json").stdout)
    assert (summary["obs_dim"], summary["act_dim"], summary["transitions"]) == (11, 3, 2000)
    devices = qipo.devices()
    assert devices and all({"index", "name", "backend", "device_type"} <= set(d) for d in devices)


def cli_error(*args):
    """The one-line message of a command that must fail (clap's usage hint aside)."""
    done = cli(*args, check=False)
    assert done.returncode != 0 and done.stderr.startswith("error: "), done.stderr
    return done.stderr.splitlines()[0].removeprefix("error: ")


def test_bad_inputs_raise_the_cli_messages(dataset, tmp_path, py_run):
    out = tmp_path / "run"
    # Each: the Python call, and the command line that must fail with the same message.
    cases = [
        (lambda: qipo.train(dataset, preset="nope", out=out), ["train", "--dataset", dataset, "--preset", "nope"]),
        (
            lambda: qipo.train(dataset, preset="smoke", overrides={"policy.bogus": 1}, out=out),
            ["train", "--dataset", dataset, "--preset", "smoke", "--set", "policy.bogus=1", "--out", out],
        ),
        (
            lambda: qipo.train(tmp_path / "missing.hdf5", preset="smoke", out=out),
            ["train", "--dataset", tmp_path / "missing.hdf5", "--preset", "smoke", "--out", out],
        ),
        (lambda: qipo.inspect(tmp_path / "missing.hdf5"), ["dataset", "inspect", tmp_path / "missing.hdf5"]),
        (lambda: qipo.Policy.load(tmp_path), ["sample", "--checkpoint", tmp_path, "--dataset", dataset, "--out", out]),
        (
            lambda: qipo.evaluate(policy="zero", env="pong"),
            ["eval", "--policy", "zero", "--env", "pong"],
        ),
    ]
    for call, args in cases:
        with pytest.raises(qipo.QipoError) as raised:
            call()
        message = str(raised.value)
        assert "\n" not in message
        # clap's own parse errors differ in their prefix; the message itself is the library's.
        assert cli_error(*args).endswith(message.split(": ", 1)[-1]), message
    assert not out.exists(), "a failed call left a run directory behind"

    policy = qipo.Policy.load(py_run[0])
    for bad in (np.zeros(5), np.zeros((2, 3, 11)), np.zeros((0, 11))):
        with pytest.raises(ValueError, match="obs has shape"):
            policy.act(bad)
    with pytest.raises(ValueError, match="n must be"):
        policy.act(np.zeros(11), n=0)
    for n in (2**62, 2**40):  # wraps in a product of sizes; exceeds the adapter's buffers
        with pytest.raises(qipo.QipoError):
            policy.act(np.zeros(11), n=n)
    with pytest.raises(qipo.QipoError, match="not finite"):
        policy.act(np.full(11, np.nan))
    with pytest.raises(qipo.QipoError, match="checkpoint or a baseline"):
        qipo.evaluate()


def test_ctrl_c_stops_at_a_resumable_point(dataset, tmp_path):
    # Long enough in behaviour pretraining that the interrupt always lands before the end: a
    # run of OVERRIDES' size can finish between its first log and the signal.
    overrides = {**OVERRIDES, "behaviour.steps": 2000}
    out = tmp_path / "run"
    call = f"qipo.train({str(dataset)!r}, preset='smoke', overrides={overrides!r}, out={str(out)!r}, seed={SEED})"
    child = subprocess.Popen(
        [sys.executable, "-c", f"import qipo; {call}"], stderr=subprocess.PIPE, text=True
    )
    # Interrupt once training is under way: after the first logged interval.
    deadline = time.monotonic() + 300
    while not ((out / "metrics.jsonl").exists() and (out / "metrics.jsonl").read_text().strip()):
        assert child.poll() is None and time.monotonic() < deadline, "the run ended before it logged"
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=300)
    assert child.returncode != 0 and "KeyboardInterrupt" in stderr, stderr
    assert "stopped on request" in stderr, stderr
    assert not json.loads((out / "state.json").read_text())["finished"]

    # The same call continues the run to what an uninterrupted one makes.
    result = qipo.train(dataset, preset="smoke", overrides=overrides, out=out, seed=SEED)
    assert result["finished"] and not result["already_finished"]
    uninterrupted = tmp_path / "uninterrupted"
    qipo.train(dataset, preset="smoke", overrides=overrides, out=uninterrupted, seed=SEED)
    assert metrics(out) == metrics(uninterrupted)
    again = qipo.train(dataset, preset="smoke", overrides=overrides, out=out, seed=SEED)
    assert again["already_finished"]
