# The README's two commands: `make demo` and `make test`. Both set up .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pairloop-installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PAIRLOOP_DATASETS ?= $(abspath ../shared/datasets)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

.PHONY: install test test-fast lint demo dashboard bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned resolve pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# llama-cpp-python (the tests' OpenAI-compatible server) compiles llama.cpp: built for a portable
	# AVX2 target, not the build machine's CPU (a native build used AMX here and crashed on every batch).
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# For contributors: everything that needs neither Label Studio, a language model nor a Ray cluster and is not slow.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not labelstudio and not llm and not ray"

lint: $(STAMP)
	$(BIN)/ruff check .

# The demo and the tests share one Label Studio installation (about 1 GB, installed once).
# `pairloop init` first: a demo store left by an older pairloop is upgraded, not refused.
demo: $(STAMP)
	PAIRLOOP_DATA_DIR=$(CURDIR)/.pairloop/demo $(BIN)/pairloop init
	PAIRLOOP_DATA_DIR=$(CURDIR)/.pairloop/demo \
	PAIRLOOP_LABEL_STUDIO_HOME=$(CURDIR)/.pairloop/label-studio \
	$(BIN)/pairloop demo

# The dashboard (and the REST API) on the demo's data, until Ctrl-C.
dashboard: $(STAMP)
	PAIRLOOP_DATA_DIR=$(CURDIR)/.pairloop/demo \
	PAIRLOOP_LABEL_STUDIO_HOME=$(CURDIR)/.pairloop/label-studio \
	$(BIN)/pairloop serve

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# docs/configuration.md is generated from pairloop/settings.py (a test fails while it is stale).
docs: $(STAMP)
	$(BIN)/python -m pairloop.settings_doc

clean:
	rm -rf .pairloop .pytest_cache
