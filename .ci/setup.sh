#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, test and run qipo:
#   - libhdf5-dev (+ pkg-config) for the HDF5 dataset loader, and a font for plots,
#   - a Vulkan loader, and Mesa's lavapipe CPU driver where no GPU driver is present,
#   - EGL and Mesa's llvmpipe OpenGL driver, for the tests on wgpu's OpenGL backend,
#   - Python's h5py/numpy (tests cross-check the loader), the mujoco==3.17.0 wheel whose
#     library the evaluation environments link, gymnasium (the parity tests' reference),
#     gymnasium-robotics (AntMaze, run in a Python subprocess), minari (the tests build a
#     local Minari cache with it), ogbench (OGBench's environments, in a subprocess), and
#     maturin and pytest to build and test the Python package (.ci/python-tests.sh).
# Safe to run repeatedly: each step is skipped when already satisfied.
set -euo pipefail

# The Rust toolchain itself comes from rustup (wgpu 30 needs Rust 1.87 or newer).
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found: install Rust 1.87 or newer with rustup first" >&2
  exit 1
fi

need_apt=()
dpkg -s libhdf5-dev >/dev/null 2>&1 || need_apt+=(libhdf5-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
dpkg -s libvulkan1 >/dev/null 2>&1 || need_apt+=(libvulkan1)
# EGL and Mesa's OpenGL drivers (llvmpipe) for CI's second backend, WGPU_BACKEND=gl.
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# strace injects the kills and full disks of tests/run_crash.rs.
dpkg -s strace >/dev/null 2>&1 || need_apt+=(strace)
# A font for the titles and labels of the plots qipo writes.
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need_apt+=(fonts-dejavu-core)
# A one-machine Slurm (controller, node daemon, munge) that tests/sweep_slurm.rs starts and
# stops itself, to run the job arrays of `qipo sweep --slurm`.
for pkg in slurm-wlm munge; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# Any installed Vulkan ICD (a vendor driver) is enough; otherwise fall back to lavapipe.
have_icd=no
for icd in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
  [ -e "$icd" ] && have_icd=yes
done
[ "$have_icd" = yes ] || need_apt+=(mesa-vulkan-drivers)

if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if command -v "$PY" >/dev/null 2>&1; then
  if ! "$PY" -c 'import h5py, numpy, mujoco, gymnasium, gymnasium_robotics, minari, ogbench, pytest; assert mujoco.__version__ == "3.17.0"' >/dev/null 2>&1 \
    || ! "$PY" -m maturin --version >/dev/null 2>&1; then
    echo "setup: installing Python packages (h5py, numpy, mujoco==3.17.0, gymnasium, gymnasium-robotics, minari, ogbench, maturin, pytest)"
    # ogbench needs dm_control, and dm_control pins mujoco from below: 1.0.50 is the release
    # that takes 3.17.0, so it is pinned beside it and pip never moves the MuJoCo qipo links.
    # minari's [hdf5] extra is h5py; its dataset creation needs no jax the way the tests use it.
    "$PY" -m pip install -q --disable-pip-version-check \
      "h5py" "numpy" "mujoco==3.17.0" "gymnasium[mujoco]==1.4.0" "gymnasium-robotics==1.4.2" \
      "minari[hdf5]==0.5.4" "ogbench==1.2.2" "dm_control==1.0.50" "maturin>=1.9,<2" "pytest"
  fi
else
  echo "setup: python3 not found: it is needed for MuJoCo (the mujoco==3.17.0 wheel)" >&2
  exit 1
fi

# MuJoCo for the evaluation environments comes from the wheel, which ships only the
# versioned libmujoco.so.3.17.0: link it under .mujoco/lib, where the build
# (MUJOCO_DYNAMIC_LINK_DIR in .cargo/config.toml) and the binaries' rpath look for it.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wheel_lib=$("$PY" -c 'import mujoco, os; print(os.path.join(os.path.dirname(mujoco.__file__), "libmujoco.so." + mujoco.__version__))')
if [ ! -f "$wheel_lib" ]; then
  echo "setup: $wheel_lib not found: the mujoco wheel is incomplete" >&2
  exit 1
fi
mkdir -p "$root/.mujoco/lib"
ln -sfn "$wheel_lib" "$root/.mujoco/lib/$(basename "$wheel_lib")"
ln -sfn "$wheel_lib" "$root/.mujoco/lib/libmujoco.so"
echo "setup: ok"
