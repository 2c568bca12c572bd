# The README's two commands: `make demo` and `make test`. Both set up .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pairloop-installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PAIRLOOP_DATASETS ?= $(abspath ../shared/datasets)

.PHONY: install test test-fast lint demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned resolve pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# For contributors: everything that needs neither Label Studio nor a language model and is not slow.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not labelstudio and not llm"

lint: $(STAMP)
	$(BIN)/ruff check .

# The demo and the tests share one Label Studio installation (about 1 GB, installed once).
# `pairloop init` first: a demo store left by an older pairloop is upgraded, not refused.
demo: $(STAMP)
	PAIRLOOP_DATA_DIR=$(CURDIR)/.pairloop/demo $(BIN)/pairloop init
	PAIRLOOP_DATA_DIR=$(CURDIR)/.pairloop/demo \
	PAIRLOOP_LABEL_STUDIO_HOME=$(CURDIR)/.pairloop/label-studio \
	$(BIN)/pairloop demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf .pairloop .pytest_cache
