# Two set-up commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
CONFIG ?= examples/digits/flow.yaml

.PHONY: demo program test bench container system-deps venv clean

# Debian packages (Yosys, iverilog, Verilator, Chromium, openFPGALoader): one script, shared with the Dockerfile.
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

# The digits CNN on a ULX3S 85F, ending with runs/digits/final/impl/ohq_top.bit (post-route Fmax, utilisation,
# latency in ns printed by the implement step). CONFIG=examples/digits/flow_pynq_z2.yaml: the PYNQ-Z2 variant.
demo: system-deps venv examples/digits/digits_w8a8.pt
	$(VENV)/bin/ohq-flow validate $(CONFIG)
	$(VENV)/bin/ohq-flow run $(CONFIG)

# Load the demo's bitstream into the ULX3S (SRAM; board on USB). BIT=... for another run.
BIT ?= runs/digits/final/impl/ohq_top.bit
program:
	openFPGALoader -b ulx3s $(BIT)

test: system-deps venv
	$(PY) -m pytest -q -m "not vivado and not vitis_hls" tests

bench: system-deps venv
	$(PIP) install -q -e '.[bench]'
	$(PY) -m examples.suite.train
	$(PY) bench/run_all.py

# Build the container image (docker, podman or buildah) and run --version --verbose, the demo and the fast
# tests in it (scripts/container_smoke.sh; ~1 h on 2 cores, so not part of `make test`).
container:
	bash scripts/container_smoke.sh

clean:
	rm -rf runs .pytest_cache
