#!/usr/bin/env bash
# The paper's table on one lent GPU, from configs/device/gsm8k-smollm2-h200.yaml.
# A call carries at most 64 MiB and the SmolLM2 GGUF is 98 MB, so the model travels in parts
# over several calls on the warm machine (bench/device/prepare.sh cuts them, here):
#   call 1: bash bench/device/gsm8k_paper.sh stash   carry [".device/smollm2.gguf.part-00"]
#   call 2: bash bench/device/gsm8k_paper.sh stash   carry [".device/smollm2.gguf.part-01", ".device/data"]
#   call 3: bash bench/device/gsm8k_paper.sh run     carry [".device/smollm2.gguf.part-02",
#                                                           ".device/smollm2.gguf.sha256", ".whl"]
# Each call first moves what it carried into $STASH (/tmp/socratic-device, outside the tree,
# kept while the machine stays warm); `run` joins the parts, checks the checksum, installs the
# wheels and this package, and runs the experiment within BUDGET_S seconds (560). The run
# directory lives in $STASH too, so a `run` cut off by the budget resumes on the next call.
# What comes back ($OUT): one predictions file per method, report.md, config.yaml, run.log.
# SMOKE=1 swaps the model for scratch:tiny and the data for a few problems (the CPU test);
# NO_INSTALL=1 uses the current Python environment as it is.
set -uo pipefail
cd "$(dirname "$0")/../.."
command=${1:-run}
STASH=${STASH:-/tmp/socratic-device}
OUT=${OUT:-$STASH/out}
PY=${PYTHON:-python3}
CONFIG=${CONFIG:-configs/device/gsm8k-smollm2-h200.yaml}
mkdir -p "$STASH/parts" "$OUT"

stash() {
    [ -d .device ] || return 0
    cp .device/smollm2.gguf.* "$STASH/parts/" 2>/dev/null
    [ -d .device/data ] && { rm -rf "$STASH/data"; cp -r .device/data "$STASH/data"; }
    echo "stashed: $(ls "$STASH/parts" | tr '\n' ' ')$([ -d "$STASH/data" ] && echo '+ data')"
}

assemble() {  # joins the parts once every one is there, as the checksum proves
    local model=$STASH/smollm2.gguf
    [ -f "$STASH/parts/smollm2.gguf.sha256" ] || { echo "no checksum stashed: carry .device/smollm2.gguf.sha256" >&2; return 2; }
    cat "$STASH"/parts/smollm2.gguf.part-* > "$model.partial"
    if [ "$(sha256sum < "$model.partial" | cut -d' ' -f1)" != "$(cat "$STASH/parts/smollm2.gguf.sha256")" ]; then
        echo "the GGUF parts stashed so far ($(ls "$STASH"/parts/*.part-* | wc -l)) do not make the file: stash the rest first" >&2
        rm -f "$model.partial"; return 2
    fi
    mv "$model.partial" "$model" && echo "model: $model ($(du -h "$model" | cut -f1))"
}

install() {
    [ -n "${NO_INSTALL:-}" ] && return 0
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || return 1
    "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir \
        --upgrade --target /tmp/site . || return 1
    export PYTHONPATH=/tmp/site
}

write_config() {  # the recipe with this machine's model and data, or the tiny smoke version
    MODEL=$1 DATA=$STASH/data SMOKE=${SMOKE:-} "$PY" - "$CONFIG" "$STASH/config.yaml" <<'PYEOF'
import os, sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config["default_model"] = os.environ["MODEL"]
config["dataset"]["data_dir"] = os.environ["DATA"]
if os.environ["SMOKE"]:
    config["dataset"].update(train_limit=24, eval_limit=4)
    config["train"].update(max_steps=2, batch_size=4, save_steps=1)
    config["solve"].update(batch_size=4, max_new_tokens=48)
yaml.safe_dump(config, open(sys.argv[2], "w"), sort_keys=False)
PYEOF
}

collect() {
    local run=$STASH/run
    for solved in "$run"/solve-*-test; do
        [ -f "$solved/predictions.jsonl" ] || continue
        method=${solved#"$run"/solve-}; cp "$solved/predictions.jsonl" "$OUT/${method%-test}.jsonl"
    done
    cp "$run/report/report.md" "$STASH/config.yaml" "$OUT/" 2>/dev/null
    ls "$OUT"
}

stash
[ "$command" = stash ] && exit 0
[ "$command" = run ] || { echo "usage: gsm8k_paper.sh stash|run" >&2; exit 2; }
[ -d "$STASH/data/gsm8k" ] || { echo "no GSM8K files stashed: carry .device/data" >&2; exit 2; }
if [ -n "${SMOKE:-}" ]; then
    model=scratch:tiny
    [ -f "$STASH/parts/smollm2.gguf.sha256" ] && { assemble || exit 2; }
else
    assemble || exit 2
    model=$STASH/smollm2.gguf
fi
install || { echo "installing the wheels or this package failed" >&2; exit 1; }
write_config "$model" || exit 1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee "$OUT/run.log"
timeout "${BUDGET_S:-560}" "$PY" -m socratic_distill run "$STASH/config.yaml" --run-dir "$STASH/run" \
    2>&1 | tee -a "$OUT/run.log"
status=${PIPESTATUS[0]}
[ "$status" = 124 ] && echo "stopped at the ${BUDGET_S:-560} s budget: call run again to resume" | tee -a "$OUT/run.log"
collect
exit "$status"
