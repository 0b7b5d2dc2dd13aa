# The two commands of the README: `make chat` (run) and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: chat test lint bench setup
setup: $(VENV)/.installed

# torch==2.13.0 is pinned in pyproject.toml, in the same install as peft/accelerate, so pip
# takes the CPU build instead of a multi-GB CUDA one where that file lies on disk.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

chat: setup
	$(PY) -m bot chat

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec compose.yml

test: lint
	$(PY) -m pytest

bench: setup
	$(PY) bench/bench_translate.py
	$(PY) bench/bench_pelukis.py --quick
	$(PY) bench/bench_busy.py --quick
