#!/usr/bin/env bash
# Download, here, the wheels the GPU machine lacks (it has torch, transformers, accelerate,
# peft, pyarrow, pandas, typer, rich, httpx, matplotlib, pytest, hypothesis): into .whl/, which
# .git/info/exclude keeps out of git and `carry` sends along (well under 64 MiB).
# The versions are this machine's own, so both sides run the same code.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PIP=${PIP:-.venv/bin/pip}
names=(pydantic pydantic_core annotated-types typing-inspection datasets dill multiprocess
       fastapi starlette uvicorn gguf sniffio)
pins=()
for name in "${names[@]}"; do
    pins+=("$name==$("$PIP" show "$name" | sed -n 's/^Version: //p')")
done
rm -rf .whl && mkdir .whl
for pin in "${pins[@]}"; do
    "$PIP" download -q --no-deps --only-binary=:all: --python-version "${PYTHON_VERSION:-3.12}" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "$pin"
done
du -sh .whl
