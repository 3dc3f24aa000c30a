#!/usr/bin/env bash
# qipo's benchmarks and the PyTorch baseline on one GPU machine, side by side.
#
#   bash benches/gpu_run.sh [--quick] [OUT_DIR]        (OUT_DIR defaults to $OUT)
#
# Run from a copy of the project that carries .gpu/qipo (the release binary) and, where the
# machine has no Vulkan loader, .gl/*.deb: ../shared/tools/gpu-carry.sh prepares both. python3
# must hold PyTorch (or set PYTHON; TORCH_DEVICE=cpu tries the script out without a GPU).
# Writes qipo_bench.md (the one-table summary), qipo_train.json, qipo_train_seeds8.md (the training
# stages with 8 seeds in every step), qipo_kernels.json, torch_eager.json, torch_graphs.json, compare.md
# and log.txt into OUT_DIR, then prints compare.md. A failing step is logged and the others still
# run; the exit status says whether any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi
out=${1:-${OUT:-}}
[ -n "$out" ] || { echo "usage: $0 [--quick] OUT_DIR (or set OUT)" >&2; exit 2; }
mkdir -p "$out"
log=$out/log.txt
: > "$log"

# NVIDIA's driver brings the Vulkan ICD but not the loader; the carried packages bring it.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} LD_LIBRARY_PATH=$PWD/.gpu:${LD_LIBRARY_PATH:-} PYTHONUNBUFFERED=1
qipo=${QIPO:-.gpu/qipo}
[ -x "$qipo" ] || qipo=target/release/qipo
py=${PYTHON:-python3}
device=${TORCH_DEVICE:-cuda}

failed=0
# step NAME FILE COMMAND...: the command's stdout into OUT_DIR/FILE, its stderr into the log.
step() {
  local name=$1 file=$2 start=$SECONDS
  shift 2
  echo "== $name" | tee -a "$log" >&2
  if "$@" > "$out/$file" 2>> "$log"; then
    echo "   done in $((SECONDS - start)) s" >&2
  else
    echo "   FAILED (exit $?) after $((SECONDS - start)) s, see $log" | tee -a "$log" >&2
    rm -f "$out/$file"
    failed=1
  fi
}

nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv >> "$log" 2>&1
step "qipo bench" qipo_bench.md "$qipo" bench "${quick[@]}"
step "qipo bench train" qipo_train.json "$qipo" bench train --json "${quick[@]}"
step "qipo bench train --seeds 8" qipo_train_seeds8.md "$qipo" bench train --seeds 8 "${quick[@]}"
step "qipo bench kernels" qipo_kernels.json "$qipo" bench kernels --json
for mode in eager graphs; do
  step "PyTorch $mode" "torch_$mode.json" \
    "$py" benches/pytorch/qipo_torch.py --device "$device" --mode "$mode" --json "${quick[@]}"
done

torch_files=()
for f in torch_eager.json torch_graphs.json; do
  [ -f "$out/$f" ] && torch_files+=("$out/$f")
done
if [ -f "$out/qipo_train.json" ] && [ ${#torch_files[@]} -gt 0 ]; then
  "$py" benches/pytorch/compare.py "$out/qipo_train.json" "${torch_files[@]}" | tee "$out/compare.md"
else
  echo "nothing to compare: qipo's or both PyTorch runs failed" | tee -a "$log" >&2
  failed=1
fi
exit $failed
