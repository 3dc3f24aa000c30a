#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, test and run qipo:
#   - libhdf5-dev (+ pkg-config) for the HDF5 dataset loader, and a font for plots,
#   - a Vulkan loader, and Mesa's lavapipe CPU driver where no GPU driver is present,
#   - Python's h5py/numpy (tests cross-check the loader) and the mujoco==3.17.0 wheel with
#     gymnasium (evaluation environments, dataset generation).
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
# A font for the titles and labels of the plots qipo writes.
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need_apt+=(fonts-dejavu-core)
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
  if ! "$PY" -c 'import h5py, numpy, mujoco, gymnasium; assert mujoco.__version__ == "3.17.0"' >/dev/null 2>&1; then
    echo "setup: installing Python packages (h5py, numpy, mujoco==3.17.0, gymnasium)"
    "$PY" -m pip install -q --disable-pip-version-check \
      "h5py" "numpy" "mujoco==3.17.0" "gymnasium[mujoco]==1.4.0"
  fi
else
  echo "setup: python3 not found; skipping the Python cross-check packages" >&2
fi
echo "setup: ok"
