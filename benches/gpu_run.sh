#!/usr/bin/env bash
# A whole GPU session in one command: qipo's benchmarks, the PyTorch baseline beside them, and
# a reproduction slice (QIPO against flow behaviour cloning on two datasets, three seeds each).
#
#   bash benches/gpu_run.sh [--quick] [OUT_DIR]        (OUT_DIR defaults to $OUT)
#
# Run from a copy of the project that carries .gpu/ (the release binary, the libraries it needs
# and halfcheetah-medium-expert-v2.hdf5) and, where the machine has no Vulkan loader, .gl/*.deb:
# ../shared/tools/gpu-carry.sh prepares both (README, "On a lent GPU"). python3 must hold PyTorch
# for the baseline (else those steps are skipped; PYTHON picks another interpreter,
# TORCH_DEVICE=cpu tries them without a GPU). QIPO names the binary (default .gpu/qipo, else
# target/release/qipo).
#
# The most valuable figures come first, and every file is written as soon as its step ends, so a
# run stopped at its limit still returns what it finished. Each step has its own time limit,
# and the whole script ends within GPU_RUN_SECONDS (540 s, 9 minutes). Into OUT_DIR (8 files):
#   results.md            every table, in order: qipo info, qipo bench, bench kernels (every
#                         matmul core at every shape), the comparison with PyTorch eager, bench
#                         train of the task presets' residual network with the slice's 3 seeds,
#                         the reproduction slice's table, for each dataset whether QIPO's critic
#                         ranks actions like MuJoCo (qipo check-critic), and last, in the time
#                         left, PyTorch with CUDA graphs and the comparison again
#   qipo_bench.json       qipo bench at the paper's sizes, MLP policy (the comparison's qipo side)
#   qipo_train_resnet_seeds3.json (the slice is sized from it), qipo_kernels.json,
#   torch_eager.json, torch_graphs.json
#   reproduction.json     the slice: step counts, time, settings and every seed's final score
#   log.txt               every step's messages
# --quick: the same steps at tiny sizes (the benchmarks' --quick; in the slice 3×32
# networks, one episode per seed, 2000-transition hopper and
# halfcheetah datasets made on the spot by ../shared/datasets/make_dataset.py, a 60 s budget,
# which the sizing finds too small, so every stage runs its fewest steps) and generous time
# limits: a few minutes on a CPU driver, so that CI runs this script end to end
# (tests/gpu_script.rs).
# A failing step is logged and the others still run; the exit status says whether any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=()
seeds=3 # in the reproduction slice, and in the bench that sizes it
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi
out=${1:-${OUT:-}}
[ -n "$out" ] || { echo "usage: $0 [--quick] OUT_DIR (or set OUT)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/log.txt results=$out/results.md
: > "$log"
: > "$results"
work=$(mktemp -d "${TMPDIR:-/tmp}/qipo-gpu-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
deadline=${GPU_RUN_SECONDS:-540}

# NVIDIA's driver brings the Vulkan ICD but not the loader; the carried packages bring it.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1' && ls .gl/*.deb > /dev/null 2>&1; then
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

if [ ${#quick[@]} -gt 0 ]; then
  # Generous limits: CI's CPU driver on two shared cores is slow, and its speed varies.
  slice_cap=60 slice_overhead=5 episodes=1 quick_size=2000 slack=3
  check_states=5 check_horizon=10
  # Tiny networks and batches: the same stages, seconds on a CPU driver.
  tiny=(--set 'policy_net.hidden=[32,32,32]' --set policy_net.time_features=8
    --set 'critic_net.hidden=[32,32,32]' --set behaviour.batch=32 --set critic.batch=32
    --set policy.batch=32 --set support.actions=2 --set support.euler_steps=2)
else
  slice_cap=$deadline slice_overhead=10 episodes=50 slack=1 tiny=()
  check_states=50 check_horizon=100
fi

failed=0
note() { echo "$*" | tee -a "$log" >&2; }
# step NAME LIMIT FILE COMMAND...: runs COMMAND for at most LIMIT seconds, its stderr into the
# log; its stdout into OUT_DIR/FILE, or with FILE "-" appended to results.md under NAME.
step() {
  local name=$1 limit=$2 file=$3 start=$SECONDS rc=0
  shift 3
  note "== $name (at most $limit s)"
  local dest=$out/$file
  [ "$file" = - ] && dest=$work/stdout
  timeout -k 10 "$limit" "$@" > "$dest" 2>> "$log" || rc=$?
  local took=$((SECONDS - start))
  if [ $rc -eq 0 ]; then
    note "   done in $took s"
    [ "$file" = - ] && printf '## %s\n\n```\n%s\n```\n\n' "$name" "$(cat "$dest")" >> "$results"
  else
    local why="FAILED (exit $rc)"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && why="TIMED OUT"
    note "   $why after $took s, see log.txt"
    printf '## %s\n\n%s after %s s\n\n' "$name" "$why" "$took" >> "$results"
    [ "$file" = - ] || rm -f "$dest"
    failed=1
  fi
  return $rc
}

command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv >> "$log" 2>&1
note "qipo: $qipo; output: $out; ends within $deadline s"
step "qipo info" $((60 * slack)) - "$qipo" info
step "qipo bench" $((120 * slack)) - "$qipo" bench "${quick[@]}" --json-file "$out/qipo_bench.json"
# The task presets' policy (QGPO's residual network, behaviour batches of 4096) with the slice's
# seeds: its rates size the slice's runs.
rates=$out/qipo_train_resnet_seeds$seeds.json
step "qipo bench kernels" $((90 * slack)) - "$qipo" bench kernels "${quick[@]}" --json-file "$out/qipo_kernels.json"

torch_files=()
has_torch=0
"$py" -c 'import torch' 2>> "$log" && has_torch=1
# PyTorch eager here; with CUDA graphs (whose compile took over 120 s on an H200) at the end,
# in whatever time the slice leaves.
torch_baseline() { # MODE LIMIT
  step "PyTorch $1" "$2" "torch_$1.json" \
    "$py" benches/pytorch/qipo_torch.py --device "$device" --mode "$1" --json "${quick[@]}" \
    && torch_files+=("$out/torch_$1.json")
}
compare_with_torch() {
  if [ -f "$out/qipo_bench.json" ] && [ ${#torch_files[@]} -gt 0 ]; then
    step "qipo against PyTorch" $((30 * slack)) - "$py" benches/pytorch/compare.py "$out/qipo_bench.json" "${torch_files[@]}" \
      && cp "$work/stdout" "$work/compare.md"
  fi
}
if [ $has_torch = 1 ]; then
  torch_baseline eager $((60 * slack))
  compare_with_torch
else
  note "== PyTorch eager and graphs: skipped, $py has no torch module (the baseline needs PyTorch)"
fi

# Its support sampling and renewal (3 seeds × 1.6M actions through the residual network) take
# minutes at the paper's sizes.
step "qipo bench train --policy resnet --seeds $seeds" $((180 * slack)) - \
  "$qipo" bench train --policy resnet --seeds "$seeds" "${quick[@]}" --json-file "$rates"

# The reproduction slice: for each dataset, QIPO and flow BC (policy.beta = 0) on its task
# preset, which decides every algorithm setting; only step counts, evaluation and the log and
# checkpoint intervals are set here. Step counts come from the steps/s measured above, sized to
# the time left, split evenly over the runs still to go.
hopper=data/hopper-medium-replay-v2.hdf5 cheetah=.gpu/halfcheetah-medium-expert-v2.hdf5
if [ ${#quick[@]} -gt 0 ]; then
  # Small datasets made on the spot (the shipped hopper file where the maker is missing).
  maker=$PWD/../shared/datasets/make_dataset.py
  cheetah=$work/halfcheetah-medium-expert-v2.hdf5
  if [ -f "$maker" ]; then
    # In the scratch folder, where MuJoCo leaves its MUJOCO_LOG.TXT.
    step "make small hopper and halfcheetah datasets" $((120 * slack)) - bash -c 'cd "$1" && shift &&
      "$1" "$2" --env hopper --kind medium-replay --size "$3" --seed 0 --compression gzip --out "$4" &&
      "$1" "$2" --env halfcheetah --kind medium-expert --size "$3" --seed 0 --compression gzip --out "$5"' \
      - "$work" "$py" "$maker" "$quick_size" "$work/hopper-medium-replay-v2.hdf5" "$cheetah" \
      && hopper=$work/hopper-medium-replay-v2.hdf5
  else
    note "== halfcheetah medium-expert: skipped, $maker is not there to make the dataset"
  fi
fi
datasets=(hopper-medium-replay-v2:hopper:$hopper)
if [ -f "$cheetah" ]; then
  datasets+=(halfcheetah-medium-expert-v2:halfcheetah:$cheetah)
elif [ ${#quick[@]} -eq 0 ]; then
  note "== halfcheetah-medium-expert-v2: skipped, $cheetah was not carried (README, \"On a lent GPU\")"
  failed=1
fi
slice_json=$out/reproduction.json
margin=20 # for the table, and for a run that overruns its estimate a little
slice_start=$SECONDS
left=${#datasets[@]}
for entry in "${datasets[@]}"; do
  IFS=: read -r task env file <<< "$entry"
  budget=$(((deadline - SECONDS - margin) / left))
  cap=$(((slice_cap - (SECONDS - slice_start)) / left))
  [ $cap -lt $budget ] && budget=$cap
  left=$((left - 1))
  if [ $budget -lt 10 ]; then
    note "== $task: skipped, $budget s left for it"
    failed=1
    continue
  fi
  "$qipo" dataset inspect "$file" --json > "$work/$task.inspect.json" 2>> "$log"
  transitions=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["transitions"])' \
    "$work/$task.inspect.json" 2>> "$log") || transitions=
  # Each of the two runs gets half the budget.
  sized=$("$py" benches/reproduction.py size --rates "$rates" \
    "$out/qipo_bench.json" --env "$env" --transitions "${transitions:-0}" --seeds $seeds \
    --episodes $episodes --budget $((budget / 2)) --overhead $slice_overhead 2> "$work/sizing.txt")
  note "$(cat "$work/sizing.txt")"
  printf '%s\n\n' "$(cat "$work/sizing.txt")" >> "$results"
  if [ -z "$transitions" ] || [ -z "$sized" ]; then
    note "== $task: skipped, cannot read $file or size its runs (see log.txt)"
    failed=1
    continue
  fi
  read -r behaviour critic policy log_every estimate <<< "$sized"
  for variant in qipo bc; do
    run_dir=$work/$task-$variant
    extra=()
    [ $variant = bc ] && extra=(--set policy.beta=0)
    # Half again the share, or twice the estimate if that is more (the fewest steps can
    # overrun a tiny share), and never past the end.
    limit=$((budget / 2 * 3 / 2))
    [ $limit -lt $((2 * estimate)) ] && limit=$((2 * estimate))
    remaining=$((deadline - SECONDS - 5))
    [ $remaining -lt $limit ] && limit=$remaining
    if [ $limit -lt 10 ]; then
      note "== $task, $variant: skipped, $limit s left for it"
      failed=1
      continue
    fi
    start=$SECONDS
    step "$task, $variant: $behaviour + $critic + $policy steps × $seeds seeds (estimated $estimate s)" $limit - \
      "$qipo" train --dataset "$file" --preset "$task" --seeds $seeds --out "$run_dir" "${tiny[@]}" "${extra[@]}" \
      --set behaviour.steps="$behaviour" --set critic.steps="$critic" --set policy.steps="$policy" \
      --set run.eval_every=0 --set run.eval_episodes=$episodes --set run.log_every="$log_every" \
      --set run.checkpoint_every="$critic"
    case $? in
      0) status=ok ;;
      124 | 137) status="timed out" ;;
      *) status=failed ;;
    esac
    "$py" benches/reproduction.py record --slice "$slice_json" --dataset "$task" --variant $variant \
      --inspect "$work/$task.inspect.json" --run-dir "$run_dir" --steps "$behaviour" "$critic" "$policy" \
      --estimate "$estimate" --wall $((SECONDS - start)) --status "$status" 2>> "$log" || failed=1
    # Whether the critic QIPO's weights follow ranks the actions at a state the way MuJoCo's
    # returns do (benches/RESULTS.md: at CPU scale it does not, and QIPO then loses to BC).
    first_seed=$(ls -d "$run_dir"/seed* 2> /dev/null | head -1)
    if [ $variant = qipo ] && [ "$status" = ok ] && [ -n "$first_seed" ]; then
      step "$task: does the critic rank actions at a state like MuJoCo's returns (seed 0)" $((60 * slack)) - \
        "$qipo" check-critic --run "$first_seed" --dataset "$file" --states $check_states --horizon $check_horizon
    fi
  done
done
if [ -f "$slice_json" ]; then
  step "reproduction slice" $((20 * slack)) - "$py" benches/reproduction.py table --slice "$slice_json" \
    && cp "$work/stdout" "$work/slice.md"
fi

if [ $has_torch = 1 ]; then
  limit=$((deadline - SECONDS - 40)) # the comparison's 30 s after it, and a margin
  [ $limit -gt $((120 * slack)) ] && limit=$((120 * slack))
  if [ $limit -ge 30 ]; then
    torch_baseline graphs $limit && compare_with_torch
  else
    note "== PyTorch graphs: skipped, $limit s left for it"
  fi
fi

# The tables to read first, at the end of the output.
for f in "$work/compare.md" "$work/slice.md"; do
  [ -f "$f" ] && { echo; cat "$f"; }
done
note "finished in $SECONDS s; wrote $out (results.md first)"
exit $failed
