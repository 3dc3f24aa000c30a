# The extension module built from src/python.rs. The package's functions (qipo/__init__.py)
# wrap these: numpy arrays travel as float32 bytes and results as JSON text.
from typing import List, Optional

class QipoError(Exception):
    """An error of qipo, with the command line's one-line message."""

class Policy:
    euler_steps: int
    network: str
    obs_dim: int
    act_dim: int
    @staticmethod
    def load(path: str, seed: int = 0, adapter: str = "auto") -> Policy: ...
    def act(self, states: bytes, n: int = 1, seed: Optional[int] = None) -> bytes: ...

def devices() -> str: ...
def inspect(dataset: str, env: Optional[str] = None) -> str: ...
def train(
    dataset: str,
    preset: Optional[str] = None,
    config: Optional[str] = None,
    overrides: List[str] = ...,
    out: Optional[str] = None,
    seed: Optional[int] = None,
    seeds: int = 1,
    stop_after: Optional[int] = None,
    adapter: str = "auto",
) -> str: ...
def evaluate(
    checkpoint: Optional[str] = None,
    policy: Optional[str] = None,
    env: Optional[str] = None,
    dataset: Optional[str] = None,
    episodes: int = 10,
    seed: int = 0,
    euler_steps: Optional[int] = None,
    adapter: str = "auto",
) -> str: ...
