#!/usr/bin/env bash
# The Python package's tests: builds and installs it from this checkout (maturin, reusing the
# release build's compiled dependencies in target/), then runs tests/python with pytest
# against the `qipo` program of `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
cargo build --release --bin qipo
# .ci/setup.sh installs maturin, so the build needs no isolated environment (nor the network).
"$PY" -m pip install -q --disable-pip-version-check --no-build-isolation .
"$PY" -m pytest -q tests/python
