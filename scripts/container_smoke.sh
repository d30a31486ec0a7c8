#!/usr/bin/env bash
# Container smoke test (`make container`): base image (scripts/container_base_image.sh) -> build the
# Dockerfile -> in the image: `ohq-flow --version --verbose`, the digits demo (it ends with the ULX3S
# bitstream, written to a mounted host directory) and the fast tests (pytest -m "not slow"). Works with
# docker (a reachable daemon), podman or buildah, whichever is found (scripts/container_engine.sh;
# OHQ_ENGINE forces one). Each step is timed; the first failure stops the script with the step's name
# and the tail of its log.
#
#   scripts/container_smoke.sh [--tag IMAGE] [--base IMAGE] [--registry-base] [--clean-clone]
#                              [--out DIR] [--skip-demo] [--skip-tests]
#     --tag IMAGE      image to build                      (default ohq-flow:latest)
#     --base IMAGE     base image                          (default ohq-flow-base:bookworm, made
#                      locally by scripts/container_base_image.sh)
#     --registry-base  use the Dockerfile's default base (python:3.11-bookworm from Docker Hub)
#     --clean-clone    build from a fresh `git clone` of HEAD (plus the git-ignored docker/wheels and
#                      docker/certs), not from the working tree
#     --out DIR        host directory mounted as the container's runs/ (default runs/container_smoke;
#                      emptied first); the demo's bitstream and report.html are checked there
#     --skip-demo      do not run the demo
#     --skip-tests     do not run the tests
# Needs root for the base image (debootstrap) and for buildah/podman with vfs storage.
set -euo pipefail

TAG=ohq-flow:latest
BASE=ohq-flow-base:bookworm
LOCAL_BASE=1
CLEAN=0
OUT=runs/container_smoke
DEMO=1
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
    --skip-tests) TESTS=0; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
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

# 5. the fast tests (the slow ones and the Xilinx ones left out)
if [ "$TESTS" = 1 ]; then
  step_start "python -m pytest -q ${TEST_SELECTION[*]} in $TAG"
  ce_run "$TAG" "" "" python -m pytest -q -p no:cacheprovider "${TEST_SELECTION[@]}" >"$LOGS/tests.log" 2>&1 \
    || fail tests "$LOGS/tests.log" "tests failed (full log: $LOGS/tests.log)"
  say "   $(tail -1 "$LOGS/tests.log")"
  step_done tests
fi
say "all steps passed in $((SECONDS - t0)) s (logs: $LOGS)"
