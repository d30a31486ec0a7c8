#!/usr/bin/env bash
# The Debian packages ohq_flow needs: Yosys (open-source synthesis), Icarus Verilog and Verilator (RTL
# simulation: the whole-network simulation of the complete design, the board UART shell behind a pty;
# Verilator builds its simulator with make and g++),
# Chromium (report browser test), g++ (hls4ml C-simulation in the build step), openFPGALoader (programs
# ECP5 boards). Used by the Makefile (so CI runs it) and by the Dockerfile (so the image cannot drift
# from what is tested). Idempotent; needs root to install.
set -euo pipefail
want=(yosys iverilog verilator make chromium g++ openfpgaloader)
declare -A binary=([yosys]=yosys [iverilog]=iverilog [verilator]=verilator [make]=make [chromium]=chromium [g++]=g++ [openfpgaloader]=openFPGALoader)
missing=()
for p in "${want[@]}"; do
  command -v "${binary[$p]}" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: ${want[*]}"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "WARNING: missing ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  echo "         (Yosys/iverilog-based steps and tests fail or are skipped without them)" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
