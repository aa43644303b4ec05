#!/usr/bin/env bash
# The GPU check of the Triton backend, for one run on a CUDA machine with no network (an H200):
#   1. install this checkout, offline, editable;
#   2. pytest tests/test_triton_*.py with AHA_GPU=1: the compiled kernels, bfloat16 included;
#   3. aha conform --adapter triton --dtype bfloat16, when the aha CLI is there (vjp checks
#      included: the adapter claims vjp);
#   4. aha conform --adapter triton --tier kernel --dtype bfloat16: the long shapes (T to
#      16384, Dh to 256), when the CLI has --tier;
#   5. benchmarks/bench_gpu.py: Triton vs FlexAttention vs dense SDPA, forward, then the
#      backward (Triton VJP vs FlexAttention forward + backward).
# Logs and JSON go to $OUT (default ./gpu-out): setup.log, pytest.log, conform.log,
# conform.json, conform.md, kernel.log, kernel.json, kernel.md, bench.log, bench_gpu.json,
# summary.txt (11 files).
# Each step has a time limit (45 + 140 + 45 + 80 + 230 s = 540 s, plus setup), so the whole
# script ends within 9 minutes; a failing step does not stop the next one, and summary.txt
# gives every step's exit status (124: its time limit). bench_gpu.json is rewritten after
# every point, so a bench stopped by its limit keeps the points it measured.
#
#   bash benchmarks/gpu_check.sh            # from the repository root
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-./gpu-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

step() {  # step NAME SECONDS LOG COMMAND...: run under a time limit, record the exit status
    local name=$1 limit=$2 log=$3
    shift 3
    local start=$SECONDS
    timeout -k 2 "$limit" "$@" >>"$log" 2>&1
    local status=$?
    echo "$name: exit $status in $((SECONDS - start)) s (limit $limit s)" | tee -a "$SUMMARY"
}

{
    date -u
    nvidia-smi || true
    "$PY" -c "import sys, torch, triton; print(sys.version); print('torch', torch.__version__,
'cuda', torch.version.cuda, torch.cuda.get_device_name()); print('triton', triton.__version__)"
} >"$OUT/setup.log" 2>&1
step install 45 "$OUT/setup.log" \
    "$PY" -m pip install --no-deps --no-build-isolation -e .

# AHA_GPU=1: tests/conftest.py leaves TRITON_INTERPRET unset, so the kernels compile for the GPU.
unset TRITON_INTERPRET
export AHA_GPU=1
PARALLEL=()
if "$PY" -c "import xdist" 2>/dev/null; then PARALLEL=(-n 4); fi  # compiles run in parallel
# Not the slow tests: Hypothesis draws of the VJP and the sm_90 compile checks of the
# backward, which the GPU's own compiles and the vjp vectors of step 3 make redundant here.
step pytest 140 "$OUT/pytest.log" \
    "$PY" -m pytest tests/test_triton_*.py -m "not slow" -v -rA ${PARALLEL[@]+"${PARALLEL[@]}"}

AHA=()
if command -v aha >/dev/null; then
    AHA=(aha)
elif "$PY" -c "import aha.conformance.cli" 2>/dev/null; then
    AHA=("$PY" -m aha.conformance.cli)  # the CLI's module, when its script is not on PATH
fi
if [ ${#AHA[@]} -gt 0 ]; then
    step conform 45 "$OUT/conform.log" \
        "${AHA[@]}" conform --adapter triton --dtype bfloat16 --report "$OUT/conform.json"
    if "${AHA[@]}" conform --help 2>/dev/null | grep -q -- "--tier"; then
        # bfloat16 only: the GPU's dtype, and the float32 path (CUDA cores) would not fit.
        step kernel-tier 80 "$OUT/kernel.log" \
            "${AHA[@]}" conform --adapter triton --tier kernel --dtype bfloat16 \
            --report "$OUT/kernel.json"
    else
        echo "kernel-tier: skipped, this aha conform has no --tier" | tee -a "$SUMMARY"
    fi
else
    echo "conform: skipped, no aha CLI" | tee -a "$SUMMARY"
fi

step bench 230 "$OUT/bench.log" "$PY" benchmarks/bench_gpu.py --out "$OUT"
cat "$SUMMARY"
