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

# Kernel and workload benchmarks (pytest-benchmark), start-up time and peak
# memory as whole processes, then the peer comparison (peers not installed
# are listed as skipped). BENCH_ARGS passes options on, e.g. BENCH_ARGS=--quick.
BENCH_ARGS ?=
bench: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q bench --benchmark-only --benchmark-group-by=func --benchmark-sort=name \
		--benchmark-columns=min,median,rounds --benchmark-max-time=0.25
	$(BIN)/python bench/startup.py
	$(BIN)/fastmlp bench $(BENCH_ARGS)

# The comparison with PyTorch and JAX installed (the `compare` extra).
compare: $(VENV)/.installed-compare
	$(BIN)/fastmlp bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
