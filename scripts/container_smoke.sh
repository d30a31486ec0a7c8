#!/usr/bin/env bash
# Container smoke test (`make container`): base image (scripts/container_base_image.sh) -> build the
# Dockerfile -> in the image: `ohq-flow --version --verbose`, the digits demo (it ends with the ULX3S
# bitstream, written to a mounted host directory), a Vivado mounted from the host (a stand-in) and the
# fast tests (pytest -m "not slow"). Works with
# docker (a reachable daemon), podman or buildah, whichever is found (scripts/container_engine.sh;
# OHQ_ENGINE forces one). Each step is timed; the first failure stops the script with the step's name
# and the tail of its log.
#
#   scripts/container_smoke.sh [--tag IMAGE] [--base IMAGE] [--registry-base] [--clean-clone]
#                              [--out DIR] [--skip-demo] [--skip-vendor] [--skip-tests]
#     --tag IMAGE      image to build                      (default ohq-flow:latest)
#     --base IMAGE     base image                          (default ohq-flow-base:bookworm, made
#                      locally by scripts/container_base_image.sh)
#     --registry-base  use the Dockerfile's default base (python:3.11-bookworm from Docker Hub)
#     --clean-clone    build from a fresh `git clone` of HEAD (plus the git-ignored docker/wheels and
#                      docker/certs), not from the working tree
#     --out DIR        host directory mounted as the container's runs/ (default runs/container_smoke;
#                      emptied first); the demo's bitstream and report.html are checked there
#     --skip-demo      do not run the demo
#     --skip-vendor    do not check the vendor-tool mount (a stand-in Vivado at /tools/Xilinx)
#     --skip-tests     do not run the tests
#     --tests "ARGS"   pytest arguments (split on blanks) instead of the fast tests' (default: -m "not slow and not
#                      vivado and not vitis_hls" tests), e.g. --tests "tests/test_versions.py tests/test_cli.py"
# Needs root for the base image (debootstrap) and for buildah/podman with vfs storage.
set -euo pipefail

TAG=ohq-flow:latest
BASE=ohq-flow-base:bookworm
LOCAL_BASE=1
CLEAN=0
OUT=runs/container_smoke
DEMO=1
VENDOR=1
TESTS=1
TEST_SELECTION=(-m "not slow and not vivado and not vitis_hls" tests)
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --registry-base) LOCAL_BASE=0; shift ;;
    --clean-clone) CLEAN=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --skip-demo) DEMO=0; shift ;;
    --skip-vendor) VENDOR=0; shift ;;
    --skip-tests) TESTS=0; shift ;;
    --tests) read -r -a TEST_SELECTION <<<"$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "ERROR: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
REPO=$PWD
. scripts/container_engine.sh
LOGS=$(mktemp -d /tmp/ohq-container-smoke.XXXXXX)
say() { echo "[container_smoke] $*"; }
fail() {  # fail STEP LOG MESSAGE
  echo "[container_smoke] FAILED at step '$1': $3" >&2
  if [ -s "$2" ]; then echo "---- last lines of $2 ----" >&2; tail -25 "$2" >&2; fi
  exit 1
}
t0=$SECONDS
step_start() { ts=$SECONDS; say "== $1"; }
step_done() { say "   $1 ok in $((SECONDS - ts)) s"; }

ce_pick 2>"$LOGS/engine.log" || fail engine "$LOGS/engine.log" "no container engine"
say "engine: $(ce_cmd)"

# 1. base image
build_args=()
if [ "$LOCAL_BASE" = 1 ]; then
  step_start "base image $BASE"
  scripts/container_base_image.sh --tag "$BASE" >"$LOGS/base.log" 2>&1 \
    || fail "base image" "$LOGS/base.log" "scripts/container_base_image.sh failed"
  sed 's/^/   /' "$LOGS/base.log"
  step_done "base image"
  build_args=(--build-arg "BASE=$BASE")
fi

# 2. build (from the working tree, or from a clean clone of HEAD)
CONTEXT=$REPO
if [ "$CLEAN" = 1 ]; then
  CONTEXT=$LOGS/clone
  git clone -q --no-hardlinks "$REPO" "$CONTEXT" && git -C "$CONTEXT" checkout -q "$(git rev-parse HEAD)"
  for d in docker/wheels docker/certs; do
    if [ -d "$d" ]; then mkdir -p "$CONTEXT/$d" && cp -a "$d/." "$CONTEXT/$d/"; fi
  done
  say "build context: a clean clone of $(git rev-parse --short HEAD) in $CONTEXT"
fi
step_start "build $TAG ${build_args[*]} (context $CONTEXT)"
(cd "$CONTEXT" && ce_build "$TAG" "${build_args[@]}") >"$LOGS/build.log" 2>&1 \
  || fail build "$LOGS/build.log" "the image build failed (full log: $LOGS/build.log)"
step_done build
say "   image $TAG: $(ce_image_size "$TAG")"

# 3. --version --verbose
step_start "ohq-flow --version --verbose in $TAG"
want="ohq-flow $(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
ce_run "$TAG" "" "" ohq-flow --version --verbose >"$LOGS/version.log" 2>&1 \
  || fail "--version" "$LOGS/version.log" "the container exited non-zero"
[ "$(head -1 "$LOGS/version.log")" = "$want" ] \
  || fail "--version" "$LOGS/version.log" "printed '$(head -1 "$LOGS/version.log")', expected '$want'"
for tool in yosys nextpnr-ecp5 ecppack verilator iverilog torch brevitas qonnx hls4ml da4ml onnxruntime; do
  grep -Eq "^  $tool +[0-9a-z]" "$LOGS/version.log" && ! grep -Eq "^  $tool +not found" "$LOGS/version.log" \
    || fail "--version" "$LOGS/version.log" "no version of $tool in the image"
done
sed 's/^/   | /' "$LOGS/version.log"
step_done "--version"

# 4. the demo, runs/ on the host
if [ "$DEMO" = 1 ]; then
  rm -rf "$OUT" && mkdir -p "$OUT"
  out_abs=$(cd "$OUT" && pwd)
  step_start "ohq-flow run examples/digits/flow.yaml in $TAG, runs/ = $out_abs"
  ce_run "$TAG" "$out_abs" /opt/ohq_flow/runs ohq-flow run examples/digits/flow.yaml >"$LOGS/demo.log" 2>&1 \
    || fail demo "$LOGS/demo.log" "ohq-flow run exited non-zero (full log: $LOGS/demo.log)"
  grep -q '^report: .*/report\.html$' "$LOGS/demo.log" \
    || fail demo "$LOGS/demo.log" "the demo did not print 'report: .../report.html'"
  [ -s "$out_abs/digits/report.html" ] || fail demo "$LOGS/demo.log" "no $out_abs/digits/report.html on the host"
  grep -q '^post-route Fmax ' "$LOGS/demo.log" || fail demo "$LOGS/demo.log" "the demo printed no post-route Fmax"
  [ -s "$out_abs/digits/final/impl/ohq_top.bit" ] \
    || fail demo "$LOGS/demo.log" "no bitstream $out_abs/digits/final/impl/ohq_top.bit on the host"
  cp "$LOGS/demo.log" "$out_abs/demo.log"
  say "   post-route figures:"; grep -E '^\[implement\] synthesis done|^post-route Fmax|^utilisation:' "$LOGS/demo.log" | sed 's/^/   | /'
  say "   bitstream on the host: $out_abs/digits/final/impl/ohq_top.bit ($(stat -c %s "$out_abs/digits/final/impl/ohq_top.bit") bytes)"
  step_done demo
fi

# 5. Vivado mounted from the host, as docs/container.md shows: a stand-in `vivado` (it copies real Vivado
# reports from tests/fixtures and writes a dummy bitstream; orchestration only, its numbers mean nothing)
# in a host directory mounted at /tools/Xilinx, found through XILINX_VIVADO by --version --verbose and
# by the implement step of an Arty A7 run of the implementation tests' small design.
if [ "$VENDOR" = 1 ]; then
  step_start "vendor-tool mount: stand-in Vivado at /tools/Xilinx/Vivado/2024.2 in $TAG"
  vroot=$LOGS/xilinx
  mkdir -p "$vroot/Vivado/2024.2/bin"
  cat >"$vroot/Vivado/2024.2/bin/vivado" <<'PY'
#!/usr/bin/env python3
import re, shutil, sys
from pathlib import Path
cases = Path("/opt/ohq_flow/tests/fixtures/reports/vivado-2024.2-spi-controller-artix7-placed-routed")
params = Path("ohq_impl_params.tcl").read_text()
get = lambda k: re.search(r"set ohq_%s \{(.*)\}" % k, params).group(1)
print("stand-in vivado", sys.argv[1:], "top", get("top"), "part", get("part"))
shutil.copy(cases / "base_utilization_placed.rpt", get("util_rpt"))
shutil.copy(cases / "base_timing_summary_routed.rpt", get("timing_rpt"))
Path(get("bitstream")).write_bytes(b"stand-in bitstream")
PY
  cat >"$vroot/check_mount.py" <<'PY'
import json, os, sys, tempfile
from pathlib import Path
sys.path.insert(0, "/opt/ohq_flow")
from tests.implement.conftest import make_run, run_implement
tmp = Path(tempfile.mkdtemp())
outcome, ctx = run_implement(make_run(tmp, board="arty-a7-100t", implement={"allow_timing_failure": True}))
impl = json.loads((ctx.run_dir / "final/impl/impl.json").read_text())
log = (ctx.run_dir / "final/impl/vivado/vivado.log").read_text()
print("implement:", outcome, {k: impl.get(k) for k in ("tool", "status", "lut", "ff", "wns_ns", "bitstream")})
assert impl["tool"] == "vivado" and impl["bitstream"] == "final/impl/vivado/ohq_top.bit", impl
assert "stand-in vivado" in log and "-source" in log, log
PY
  chmod +x "$vroot/Vivado/2024.2/bin/vivado"
  ce_run "$TAG" "$vroot" /tools/Xilinx env XILINX_VIVADO=/tools/Xilinx/Vivado/2024.2 \
      bash -c 'ohq-flow --version --verbose | grep -E "^  (vivado|vitis_hls) " && python /tools/Xilinx/check_mount.py' \
      >"$LOGS/vendor.log" 2>&1 || fail vendor "$LOGS/vendor.log" "the mounted stand-in Vivado was not found or not run"
  grep -q "^  vivado */tools/Xilinx/Vivado/2024.2/bin/vivado$" "$LOGS/vendor.log" \
    || fail vendor "$LOGS/vendor.log" "--version --verbose did not find the mounted vivado"
  sed 's/^/   | /' "$LOGS/vendor.log" | tail -4
  step_done vendor
fi

# 6. the fast tests (the slow ones and the Xilinx ones left out)
if [ "$TESTS" = 1 ]; then
  step_start "python -m pytest -q ${TEST_SELECTION[*]} in $TAG"
  ce_run "$TAG" "" "" python -m pytest -q -p no:cacheprovider "${TEST_SELECTION[@]}" >"$LOGS/tests.log" 2>&1 \
    || fail tests "$LOGS/tests.log" "tests failed (full log: $LOGS/tests.log)"
  say "   $(tail -1 "$LOGS/tests.log")"
  step_done tests
fi
say "all steps passed in $((SECONDS - t0)) s (logs: $LOGS)"
