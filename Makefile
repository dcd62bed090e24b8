# Set-up is two commands: `make train` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: train test bench compare install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,plot]'
	touch $@

$(VENV)/.installed-compare: pyproject.toml $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[compare]'
	touch $@

install: $(VENV)/.installed

train: $(VENV)/.installed
	$(BIN)/fastmlp train --dataset xor

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

# Kernel and workload benchmarks (pytest-benchmark), then the peer comparison.
bench: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q bench --benchmark-only --benchmark-columns=min,median,mean,rounds
	$(BIN)/fastmlp bench

# The same comparison with PyTorch and JAX installed (the `compare` extra).
compare: $(VENV)/.installed-compare
	$(BIN)/fastmlp bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
