# Two commands on a fresh machine with nothing but Python 3.11:
#   make demo   — set everything up, start a local homeserver, the bot and a demo dataset
#   make test   — set everything up and run ruff, mypy and the whole test suite
PYTHON ?= python3.11
VENV ?= .venv
SYNAPSE_VENV ?= .venv-synapse
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser test lint typecheck pytest demo bench clean

setup: $(STAMP) $(SYNAPSE_VENV)/.installed browser

# The dashboard's tests drive the system's Chromium (Debian's package), never a downloaded one.
browser:
	bash scripts/install-browser.sh

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned: a bare requirement resolved from scratch pulls a multi-GB CUDA build.
$(STAMP): $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,e2e,ray]'
	touch $(STAMP)

$(SYNAPSE_VENV)/.installed: scripts/install-synapse.sh
	bash scripts/install-synapse.sh $(SYNAPSE_VENV)
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# tests/ray and tests/cli run in a second pytest process beside the rest (scripts/pytest-both.sh).
pytest: setup
	bash scripts/pytest-both.sh $(BIN)

test: lint typecheck pytest

demo: $(STAMP) $(SYNAPSE_VENV)/.installed
	$(BIN)/trainbot demo

bench: setup
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/http_load.py
	$(BIN)/python bench/room_latency.py
	$(BIN)/python bench/precision.py
	$(BIN)/python bench/lora_throughput.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/openai_api.py
	$(BIN)/python bench/ray_backend.py
	$(BIN)/python bench/ui_dashboard.py

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) .mypy_cache .ruff_cache .pytest_cache
