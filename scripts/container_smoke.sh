#!/usr/bin/env bash
# Docker smoke test: base image (scripts/docker_base_image.sh) -> docker build -> `ohq-flow
# --version` -> the digits demo in a container (it ends with the ULX3S bitstream). Each step is timed; the first failure stops the
# script with the step's name and the tail of its log.
#
#   scripts/docker_smoke.sh [--tag IMAGE] [--base IMAGE] [--registry-base] [--out DIR] [--skip-demo]
#     --tag IMAGE      image to build                       (default ohq-flow:latest)
#     --base IMAGE     base image                           (default ohq-flow-base:bookworm, made
#                      locally by scripts/docker_base_image.sh)
#     --registry-base  use the Dockerfile's default base (python:3.11-bookworm from Docker Hub)
#                      instead of making one locally
#     --out DIR        host directory mounted as the container's runs/ (default runs/docker_smoke;
#                      emptied first); the demo's report.html is checked there
#     --skip-demo      stop after --version
# The build and the demo use the host network (`--network host`): some sandboxes give the
# default bridge no route out. Needs a running Docker daemon; the base image needs root.
set -euo pipefail

TAG=ohq-flow:latest
BASE=ohq-flow-base:bookworm
LOCAL_BASE=1
OUT=runs/docker_smoke
DEMO=1
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --registry-base) LOCAL_BASE=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --skip-demo) DEMO=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "ERROR: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
LOGS=$(mktemp -d /tmp/ohq-docker-smoke.XXXXXX)
say() { echo "[docker_smoke] $*"; }
fail() {  # fail STEP LOG MESSAGE
  echo "[docker_smoke] FAILED at step '$1': $3" >&2
  if [ -s "$2" ]; then echo "---- last lines of $2 ----" >&2; tail -25 "$2" >&2; fi
  exit 1
}
t0=$SECONDS
step_start() { ts=$SECONDS; say "== $1"; }
step_done() { say "   $1 ok in $((SECONDS - ts)) s"; }

command -v docker >/dev/null 2>&1 || fail preflight /dev/null "no 'docker' command on PATH"
docker info >/dev/null 2>&1 || fail preflight /dev/null \
  "the Docker daemon is not reachable (start it, e.g. 'nohup dockerd >/tmp/dockerd.log 2>&1 &')"

# 1. base image
build_args=()
if [ "$LOCAL_BASE" = 1 ]; then
  step_start "base image $BASE"
  scripts/docker_base_image.sh --tag "$BASE" >"$LOGS/base.log" 2>&1 \
    || fail "base image" "$LOGS/base.log" "scripts/docker_base_image.sh failed"
  sed 's/^/   /' "$LOGS/base.log"
  step_done "base image"
  build_args=(--build-arg "BASE=$BASE")
fi

# 2. build
step_start "docker build --network host -t $TAG ${build_args[*]} ."
docker build --network host -t "$TAG" "${build_args[@]}" . >"$LOGS/build.log" 2>&1 \
  || fail build "$LOGS/build.log" "docker build failed (full log: $LOGS/build.log)"
step_done build
say "   image $TAG: $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.2f GB", $1/1e9}')"

# 3. --version
step_start "docker run --rm $TAG --version"
want="ohq-flow $(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
got=$(docker run --rm "$TAG" --version 2>"$LOGS/version.log") \
  || fail "--version" "$LOGS/version.log" "the container exited non-zero"
[ "$got" = "$want" ] || fail "--version" "$LOGS/version.log" "printed '$got', expected '$want'"
say "   $got"
step_done "--version"

# 4. the demo
if [ "$DEMO" = 1 ]; then
  rm -rf "$OUT" && mkdir -p "$OUT"
  out_abs=$(cd "$OUT" && pwd)
  step_start "docker run --rm --network host -v $out_abs:/opt/ohq_flow/runs $TAG run examples/digits/flow.yaml"
  docker run --rm --network host -v "$out_abs:/opt/ohq_flow/runs" "$TAG" run examples/digits/flow.yaml \
    >"$LOGS/demo.log" 2>&1 || fail demo "$LOGS/demo.log" "ohq-flow run exited non-zero (full log: $LOGS/demo.log)"
  grep -q '^report: .*/report\.html$' "$LOGS/demo.log" \
    || fail demo "$LOGS/demo.log" "the demo did not print 'report: .../report.html'"
  [ -s "$out_abs/digits/report.html" ] || fail demo "$LOGS/demo.log" "no $out_abs/digits/report.html on the host"
  grep -q '^post-route Fmax ' "$LOGS/demo.log" || fail demo "$LOGS/demo.log" "the demo printed no post-route Fmax"
  [ -s "$out_abs/digits/final/impl/ohq_top.bit" ] \
    || fail demo "$LOGS/demo.log" "no bitstream $out_abs/digits/final/impl/ohq_top.bit on the host"
  say "   last lines:"; tail -12 "$LOGS/demo.log" | sed 's/^/   | /'
  say "   report on the host: $out_abs/digits/report.html; bitstream: $out_abs/digits/final/impl/ohq_top.bit"
  step_done demo
fi
say "all steps passed in $((SECONDS - t0)) s (logs: $LOGS)"
