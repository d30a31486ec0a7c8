# Two set-up commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
CONFIG ?= examples/digits/flow.yaml

.PHONY: demo test bench system-deps venv clean

# Debian packages (Yosys, iverilog, Chromium): one script, shared with the Dockerfile.
system-deps:
	bash scripts/install_system_deps.sh

# The Python install: one script, shared with the Dockerfile (venv, torch CPU first, the project).
# TORCH_CPU_INDEX empty: torch==2.13.0 from pip's configured index (here a local CPU wheel); the
# script refuses a torch that is not a CPU build.
$(STAMP): pyproject.toml scripts/install_image_python.sh
	VENV=$(VENV) TORCH_CPU_INDEX= bash scripts/install_image_python.sh venv torch project
	touch $(STAMP)

venv: $(STAMP)

examples/digits/digits_w8a8.pt: | $(STAMP)
	$(PY) -m examples.digits.train

demo: system-deps venv examples/digits/digits_w8a8.pt
	$(VENV)/bin/ohq-flow validate $(CONFIG)
	$(VENV)/bin/ohq-flow run $(CONFIG)

test: system-deps venv
	$(PY) -m pytest -q -m "not vivado and not vitis_hls" tests

bench: system-deps venv
	$(PIP) install -q -e '.[bench]'
	$(PY) -m examples.suite.train
	$(PY) bench/run_all.py

clean:
	rm -rf runs .pytest_cache
