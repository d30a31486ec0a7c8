# Two set-up commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
APT_PACKAGES := yosys iverilog
CONFIG ?= examples/digits/flow.yaml

.PHONY: demo test test-fast bench system-deps venv clean docker-install

# Debian packages (open-source synthesis and RTL simulation); needs root, skipped when present.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	  else echo "WARNING: missing$$missing (install with: sudo apt-get install $(APT_PACKAGES)); Yosys-based steps will fail"; fi; \
	fi

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first: the local CPU wheel (a plain 'torch' requirement would fetch CUDA builds)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
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
	$(PY) bench/run_all.py

clean:
	rm -rf runs .pytest_cache
