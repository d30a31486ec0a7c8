# ohq_flow with its open-source tools (Yosys, Icarus Verilog, Chromium). Vivado/Vitis are NOT in
# the image: mount them from the host and they are found automatically, e.g.
#   docker run --rm -v /tools/Xilinx:/tools/Xilinx -v $PWD/runs:/opt/ohq_flow/runs ohq-flow run examples/digits/flow.yaml
# (XILINX_VIVADO / XILINX_VITIS / XILINX_HLS, or OHQ_XILINX_SETTINGS=/tools/Xilinx/Vivado/<ver>/settings64.sh;
#  never required).
#
# Base image: any Debian bookworm with Python 3.11. Where no registry is reachable, make it locally:
#   debootstrap bookworm rootfs && tar -C rootfs -c . | docker import - debian:bookworm
ARG BASE=python:3.11-bookworm
FROM ${BASE}

WORKDIR /opt/ohq_flow
COPY scripts/install_system_deps.sh scripts/install_system_deps.sh
# The same script the Makefile runs in CI, so the image cannot drift from what is tested.
RUN bash scripts/install_system_deps.sh && rm -rf /var/lib/apt/lists/*

COPY . .
# torch first (CPU wheel); then the project, exactly as `make venv` does.
RUN python3 -m venv .venv \
    && .venv/bin/pip install --no-cache-dir --upgrade pip \
    && .venv/bin/pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && .venv/bin/pip install --no-cache-dir -e '.[test]'
ENV PATH=/opt/ohq_flow/.venv/bin:$PATH
ENTRYPOINT ["ohq-flow"]
CMD ["--help"]
