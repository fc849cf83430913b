#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU where numpy and cupy are already installed:
#   1. install deepcore's other dependencies (from the wheels in ci/wheels/ when present, so no
#      network is needed; else from the package index) and deepcore itself (editable, no deps);
#   2. run the test suite on the cupy backend, and on the torch backend on CUDA when torch sees
#      a GPU;
#   3. run the GPU benchmark (MLP at width 4096, batch 1024: cupy vs torch CUDA).
# Logs, the test reports and the benchmark JSON go to $OUT (default: ci/gpu-out/).
# Exit status: 0 when every step passed, 1 otherwise (each step still runs).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/ci/gpu-out}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"
LOG="$OUT/gpu-check.log"
failed=0

say() { echo "== $*" | tee -a "$LOG"; }
step() {  # step NAME LOGFILE COMMAND...: run, tee into LOGFILE, record a failure
    local name=$1 logfile=$2
    shift 2
    say "$name: $*"
    "$@" 2>&1 | tee "$OUT/$logfile"
    local status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        say "FAILED ($status): $name"
        failed=1
    fi
    return "$status"
}

DEPS=(array-api-compat array-api-extra array-api-strict threadpoolctl tqdm safetensors pytest)
if [ -d ci/wheels ] && "$PYTHON" -m pip install --no-index --find-links ci/wheels "${DEPS[@]}" \
        >"$OUT/install.log" 2>&1; then
    say "dependencies installed from ci/wheels"
else
    step "dependencies from the package index" install-index.log \
        "$PYTHON" -m pip install "${DEPS[@]}" || exit 1
fi
# No build isolation first: it would fetch setuptools from the network.
if ! "$PYTHON" -m pip install --no-deps --no-build-isolation -e . >>"$OUT/install.log" 2>&1; then
    step "deepcore (with build isolation)" install-deepcore.log "$PYTHON" -m pip install --no-deps -e . || exit 1
fi

step "deepcore info" info.txt "$PYTHON" -m deepcore info
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || say "nvidia-smi not found"
if ! step "cupy backend usable" cupy-probe.txt "$PYTHON" -c \
        "import deepcore as dc, sys; r = {b.name: b for b in dc.list_backends()}['cupy']; print(r); sys.exit(0 if r.available else 1)"; then
    say "the cupy backend is not usable here (see cupy-probe.txt); nothing to check on a GPU"
    exit 1
fi

step "tests on cupy" pytest-cupy.log "$PYTHON" -m pytest -rs --backend cupy --junitxml="$OUT/pytest-cupy.xml"
if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
    # --deepcore-device moves the torch backend tests from the CPU to the GPU.
    step "tests on torch cuda" pytest-torch-cuda.log \
        "$PYTHON" -m pytest -rs --backend torch --deepcore-device torch=cuda:0 --junitxml="$OUT/pytest-torch-cuda.xml"
else
    say "torch with CUDA is not available: torch-on-GPU tests skipped"
fi

step "GPU benchmark" bench-gpu.txt "$PYTHON" -m benchmarks --workloads gpu_mlp --json "$OUT/bench-gpu.json"

say "done: $([ "$failed" -eq 0 ] && echo 'all steps passed' || echo 'some steps FAILED')"
exit "$failed"
