"""qipo: energy-weighted flow matching (QIPO) for offline RL, from Python.

The same code as the ``qipo`` command line, with numpy in and out::

    run = qipo.train("hopper-medium-replay-v2.hdf5", preset="smoke", out="runs/hopper")
    policy = qipo.Policy.load(run["run_dir"])
    action = policy.act(obs)

Every function releases the GIL while it works. Errors of qipo raise :class:`QipoError`
with the command line's one-line message; arrays of the wrong shape raise ``ValueError``.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

# The Vulkan loader complains on machines without a login session; give it a directory.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
try:
    # The evaluation environments link the mujoco wheel's library: loaded first, it is the one
    # the extension finds, wherever the package is installed.
    import mujoco  # noqa: F401
except ImportError:
    pass

from . import _native
from ._native import QipoError

__all__ = ["QipoError", "Policy", "train", "evaluate", "inspect", "devices"]

PathLike = Union[str, "os.PathLike[str]"]


def _path(path: Optional[PathLike]) -> Optional[str]:
    return None if path is None else os.fspath(path)


def _setting(value: Any) -> str:
    """A value of ``overrides`` as ``qipo train --set KEY=VALUE`` takes it: a TOML value, or
    a string as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json.dumps(v) if isinstance(v, str) else _setting(v) for v in value) + "]"
    return str(value)


def train(
    dataset: PathLike,
    preset: Optional[str] = None,
    config: Optional[PathLike] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    out: Optional[PathLike] = None,
    seed: Optional[int] = None,
    seeds: int = 1,
    stop_after: Optional[int] = None,
    adapter: str = "auto",
) -> dict:
    """Trains a QIPO policy exactly as ``qipo train`` does, into the same run directory.

    ``overrides`` maps settings to values, as ``--set KEY=VALUE``:
    ``{"policy.beta": 5, "policy_net.hidden": [256, 256]}``. Calling again with the same
    arguments continues the run (a finished run is left alone). Progress goes to stderr.
    Ctrl-C stops the run at the next point it resumes from exactly and then raises
    ``KeyboardInterrupt``; so does ``stop_after`` (optimisation steps), without raising.

    Returns ``{"run_dir", "finished", "already_finished", "stopped", "seeds": [{"seed",
    "run_dir", "q_dataset", "q_behaviour", "q_policy", "eval"}], "evaluation"}``.
    """
    settings = [f"{key}={_setting(value)}" for key, value in (overrides or {}).items()]
    outcome = _native.train(
        _path(dataset), preset, _path(config), settings, _path(out), seed, seeds, stop_after, adapter
    )
    return json.loads(outcome)


def evaluate(
    checkpoint: Optional[PathLike] = None,
    policy: Optional[str] = None,
    env: Optional[str] = None,
    dataset: Optional[PathLike] = None,
    episodes: int = 10,
    seed: int = 0,
    euler_steps: Optional[int] = None,
    adapter: str = "auto",
) -> dict:
    """Episodes in MuJoCo, AntMaze or OGBench, as ``qipo eval --json``: of a run directory or
    checkpoint, or of the baseline ``policy="zero"`` or ``"random"`` (which needs ``env``, or
    a ``dataset`` that names one). With ``dataset`` (a file, a Minari id or an OGBench task),
    scores use its references. Returns the report: mean return and score with standard
    errors, every episode's."""
    if (checkpoint is None) == (policy is None):
        raise QipoError("pass a checkpoint or a baseline policy ('zero', 'random'), not both or neither")
    report = _native.evaluate(_path(checkpoint), policy, env, _path(dataset), episodes, seed, euler_steps, adapter)
    return json.loads(report)


def inspect(dataset: PathLike, env: Optional[str] = None) -> dict:
    """Checks a D4RL or Minari HDF5 file and returns its statistics and warnings, as
    ``qipo dataset inspect --json``."""
    return json.loads(_native.inspect(_path(dataset), env))


def devices() -> list:
    """The GPU adapters qipo can use, best first: ``[{"index", "name", "backend",
    "device_type", "driver", "driver_info"}]``; ``adapter=`` takes an index or a name."""
    return json.loads(_native.devices())


class Policy:
    """A trained policy: ``Policy.load(run_dir)``, then ``policy.act(obs)``."""

    def __init__(self, native: _native.Policy, path: str) -> None:
        self._native = native
        self.path = path

    @classmethod
    def load(cls, path: PathLike, seed: int = 0, adapter: str = "auto") -> "Policy":
        """The final policy of a run directory (its behaviour policy if improvement has not
        run) or the policy of a checkpoint file. Calls to :meth:`act` without a seed draw
        their noise from one stream that starts at ``seed`` and advances call by call."""
        return cls(_native.Policy.load(_path(path), seed, adapter), _path(path))

    @property
    def obs_dim(self) -> int:
        return self._native.obs_dim

    @property
    def act_dim(self) -> int:
        return self._native.act_dim

    @property
    def euler_steps(self) -> int:
        """The Euler steps of the sampler: the run's."""
        return self._native.euler_steps

    @property
    def network(self) -> str:
        """``"policy"``, or ``"behaviour"`` when the run has not improved it yet."""
        return self._native.network

    def act(self, obs: Union[np.ndarray, Sequence[float]], n: int = 1, seed: Optional[int] = None) -> np.ndarray:
        """Actions for one state (shape ``(obs_dim,)``) or a batch (``(batch, obs_dim)``),
        with the run's observation normalisation applied: ``(act_dim,)`` or
        ``(batch, act_dim)``, float32; with ``n > 1``, ``n`` samples per state on an axis
        before the last: ``(n, act_dim)`` or ``(batch, n, act_dim)``.

        With a seed, the noise is exactly ``qipo sample --seed``'s, so the same states give
        the same actions; without, it continues the policy's own stream."""
        states = np.asarray(obs, dtype=np.float32)
        if states.ndim not in (1, 2) or states.shape[-1] != self.obs_dim or states.size == 0:
            raise ValueError(
                f"obs has shape {states.shape}: expected ({self.obs_dim},) or (batch, {self.obs_dim})"
            )
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer of at least 1, not {n!r}")
        raw = self._native.act(np.ascontiguousarray(states, dtype="<f4").tobytes(), int(n), seed)
        actions = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        shape = states.shape[:-1] + ((n,) if n > 1 else ()) + (self.act_dim,)
        return actions.reshape(shape)

    def __call__(self, obs: Union[np.ndarray, Sequence[float]]) -> np.ndarray:
        """One action per state: ``policy(obs)`` is ``policy.act(obs)``."""
        return self.act(obs)

    def __repr__(self) -> str:
        return f"qipo.Policy({self.path!r}, {self.network}, obs_dim={self.obs_dim}, act_dim={self.act_dim})"
