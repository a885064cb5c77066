#!/usr/bin/env bash
# The GPU path on a lent machine, in one command (device `run` with carry [".whl"]):
#   bash bench/device/gpu_check.sh
# 1. the carried wheels and this package (built there, no network) go to /tmp/site;
# 2. the CUDA tests (`-m cuda`: sampling, refill with the calculator, the Socratic turns);
# 3. the fast suite on the GPU machine's own torch and transformers.
# Logs land in $OUT (or /tmp/gpu_check) so they come back even if a step fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}  # the GPU machine's python3 holds its torch
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir \
    --upgrade --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'cuda',
torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '',
'transformers', transformers.__version__)" | tee "$OUT/versions.txt"
status=0
"$PY" -m pytest -q -p no:cacheprovider -m cuda tests 2>&1 | tee "$OUT/cuda.log" || status=1
timeout 420 "$PY" -m pytest -q -p no:cacheprovider -m "not slow and not cuda" tests \
    2>&1 | tee "$OUT/fast.log" || status=1
exit $status
