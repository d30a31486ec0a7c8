#!/usr/bin/env bash
# The Python side of an ohq_flow install, in the order `make venv` uses: a venv, torch first (a
# CPU build: a plain 'torch' requirement from PyPI would pull in CUDA), then `pip install -e
# '.[test]'`. The Dockerfile runs it step by step (one cached layer each); run from the
# repository root.
#
#   scripts/install_image_python.sh system            # Debian packages a Python build needs (root)
#   scripts/install_image_python.sh venv torch project [--wheels DIR] [--cert FILE]
#   scripts/install_image_python.sh all                # venv torch project
#
#   system   python3, python3-venv, python3-pip, ca-certificates and g++ (hls4ml's C-simulation
#            in the demo's build step compiles with g++), via apt-get, only those missing
#   venv     create $VENV (default .venv) and upgrade its pip
#   torch    $TORCH_SPEC (default torch==2.13.0, as in the Makefile): from a torch-*.whl in
#            --wheels DIR if there is one, else from $TORCH_CPU_INDEX (default
#            https://download.pytorch.org/whl/cpu; empty = pip's configured index, as `make` uses)
#   project  pip install -e '.[test]'
#   --cert FILE  CA bundle for pip (e.g. behind a TLS-intercepting proxy); ignored if absent
set -euo pipefail

VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_CPU_INDEX=${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}
WHEELS=""
steps=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=$2; shift 2 ;;
    --cert) if [ -s "$2" ]; then export PIP_CERT=$2; echo "pip uses the CA bundle $2"; fi; shift 2 ;;
    system|venv|torch|project) steps+=("$1"); shift ;;
    all) steps+=(venv torch project); shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "ERROR: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#steps[@]} -gt 0 ] || { echo "ERROR: name a step: system, venv, torch, project or all" >&2; exit 2; }

PIP="$VENV/bin/pip"
need_venv() { [ -x "$PIP" ] || { echo "ERROR: no venv at $VENV (run the 'venv' step first)" >&2; exit 1; }; }

for step in "${steps[@]}"; do
  case "$step" in
    system)
      want=(python3 python3-venv python3-pip ca-certificates g++)
      missing=()
      for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
      done
      if [ ${#missing[@]} -eq 0 ]; then
        echo "system packages present: ${want[*]}"
      elif [ "$(id -u)" != 0 ]; then
        echo "ERROR: missing ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
        exit 1
      else
        echo "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      fi
      ;;
    venv)
      test -d "$VENV" || python3 -m venv "$VENV"
      "$PIP" install -q --upgrade pip
      echo "venv $VENV: $("$VENV/bin/python" --version), $("$PIP" --version | cut -d' ' -f1-2)"
      ;;
    torch)
      need_venv
      if [ -n "$WHEELS" ] && ls "$WHEELS"/torch-*.whl >/dev/null 2>&1; then
        echo "installing $TORCH_SPEC from $WHEELS ($(cd "$WHEELS" && ls torch-*.whl | tr '\n' ' ')), its dependencies from the index"
        "$PIP" install -q --find-links "$WHEELS" "$TORCH_SPEC"
      elif [ -z "$TORCH_CPU_INDEX" ]; then
        echo "installing $TORCH_SPEC from pip's configured index (TORCH_CPU_INDEX is empty)"
        "$PIP" install -q "$TORCH_SPEC"
      else
        echo "installing $TORCH_SPEC from $TORCH_CPU_INDEX (no torch wheel given)"
        "$PIP" install -q "$TORCH_SPEC" --index-url "$TORCH_CPU_INDEX"
      fi
      v=$("$VENV/bin/python" -W ignore -c "import torch; print(torch.__version__)")
      case "$v" in
        *+cpu) echo "torch $v" ;;
        *) echo "ERROR: torch $v is not a CPU build (+cpu); it would pull in CUDA" >&2; exit 1 ;;
      esac
      ;;
    project)
      need_venv
      echo "installing the project: pip install -e '.[test]'"
      "$PIP" install -q -e '.[test]'
      ;;
  esac
done
