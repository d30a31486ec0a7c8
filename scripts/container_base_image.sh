#!/usr/bin/env bash
# Make the container base image locally, for machines where no image registry (Docker Hub) is
# reachable: debootstrap a minimal Debian (bookworm: Python 3.11) from a Debian mirror and import
# it into the engine found (docker, podman or buildah: scripts/container_engine.sh). Also puts a CPU torch wheel into docker/wheels/ (if pip can get one here),
# which the Dockerfile installs instead of fetching torch from download.pytorch.org.
#
#   scripts/container_base_image.sh              # -> image ohq-flow-base:bookworm + docker/wheels/
#   docker build --network host -t ohq-flow:latest --build-arg BASE=ohq-flow-base:bookworm .
#
# Idempotent: an existing image and an existing wheel are kept (use --force / --no-wheel).
# Needs root (debootstrap) and docker (a running daemon), podman or buildah.
set -euo pipefail

TAG=ohq-flow-base:bookworm
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
ROOTFS=""
FORCE=0
WHEEL=1
CA_BUNDLE=auto
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}   # the version the Makefile installs
INCLUDE=python3,python3-venv,python3-pip,ca-certificates

usage() {
  cat <<EOF
usage: $0 [--tag IMAGE] [--suite SUITE] [--mirror URL] [--rootfs DIR] [--force] [--no-wheel]
          [--ca-bundle FILE | --no-ca-bundle]
  --tag IMAGE   name of the imported image            (default $TAG)
  --suite SUITE Debian suite; must give Python 3.11  (default $SUITE)
  --mirror URL  Debian mirror                         (default $MIRROR)
  --rootfs DIR  where to debootstrap                  (default: a temporary directory, removed)
  --force       rebuild the image even if it exists
  --no-wheel    do not put a torch wheel into docker/wheels/
  --ca-bundle FILE  copy this CA bundle to docker/certs/ for pip in the build (needed behind a
                TLS-intercepting proxy); default: the bundle the host's pip is configured with
                (PIP_CERT or pip config 'cert'), if any
  --no-ca-bundle    do not copy a CA bundle
  env TORCH_SPEC the torch requirement for the wheel  (default $TORCH_SPEC)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --suite) SUITE=$2; shift 2 ;;
    --mirror) MIRROR=$2; shift 2 ;;
    --rootfs) ROOTFS=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    --no-wheel) WHEEL=0; shift ;;
    --ca-bundle) CA_BUNDLE=$2; shift 2 ;;
    --no-ca-bundle) CA_BUNDLE=""; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "ERROR: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

say() { echo "[container_base_image] $*"; }
die() { echo "[container_base_image] ERROR: $*" >&2; exit 1; }

cd "$(dirname "$0")/.."
. scripts/container_engine.sh
ce_pick || exit 1
say "engine: $(ce_cmd)"

# 1. The base image.
if [ "$FORCE" = 0 ] && ce_image_exists "$TAG"; then
  say "image $TAG exists; keeping it (--force rebuilds)"
else
  [ "$(id -u)" = 0 ] || die "debootstrap needs root; run this script as root (or with sudo)"
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } \
      || die "cannot install debootstrap"
  fi
  tmp_rootfs=0
  if [ -z "$ROOTFS" ]; then
    ROOTFS=$(mktemp -d /tmp/ohq-rootfs.XXXXXX)
    tmp_rootfs=1
  elif [ -e "$ROOTFS" ] && [ -n "$(ls -A "$ROOTFS" 2>/dev/null)" ]; then
    die "--rootfs $ROOTFS exists and is not empty; remove it or name another directory"
  fi
  cleanup() { rm -f "$ROOTFS.tar"; if [ "$tmp_rootfs" = 1 ]; then rm -rf "$ROOTFS"; fi; }
  trap cleanup EXIT
  say "debootstrap --variant=minbase $SUITE from $MIRROR into $ROOTFS (a few minutes)"
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.debootstrap.log" 2>&1 \
    || { tail -20 "$ROOTFS.debootstrap.log" >&2; die "debootstrap failed; full log: $ROOTFS.debootstrap.log"; }
  # debootstrap writes only '<mirror> <suite> main': add updates and security, as on the host.
  cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb
  py=$(chroot "$ROOTFS" python3 --version 2>&1) || die "python3 does not run in the new rootfs: $py"
  say "rootfs has $py ($(du -sh "$ROOTFS" | cut -f1))"
  say "importing it as $TAG"
  tar -C "$ROOTFS" -cf "$ROOTFS.tar" . || die "cannot tar $ROOTFS"
  ce_import "$ROOTFS.tar" "$TAG" "debootstrap --variant=minbase --include=$INCLUDE $SUITE $MIRROR" \
    || die "importing $ROOTFS.tar into $ENGINE failed"
  rm -f "$ROOTFS.debootstrap.log" "$ROOTFS.tar"
  say "image $TAG: $(ce_image_size "$TAG")"
fi

# 2. A CPU torch wheel for the build context (the Dockerfile falls back to the PyTorch CPU index).
if [ "$WHEEL" = 1 ]; then
  mkdir -p docker/wheels
  # keep the wheels (and this file) out of git without touching the repository's .gitignore
  [ -f docker/wheels/.gitignore ] || printf '*\n' >docker/wheels/.gitignore
  if ls docker/wheels/torch-*.whl >/dev/null 2>&1; then
    say "torch wheel present: $(ls docker/wheels/torch-*.whl | xargs -n1 basename | tr '\n' ' ')"
  else
    PIP=${PIP:-pip}
    say "fetching $TORCH_SPEC for cp311/manylinux x86_64 with '$PIP download' (the host's pip configuration decides where from)"
    if "$PIP" download --no-deps --only-binary=:all: --python-version 3.11 --implementation cp \
         --platform manylinux_2_28_x86_64 -d docker/wheels "$TORCH_SPEC" >/tmp/ohq-torch-download.log 2>&1; then
      whl=$(ls docker/wheels/torch-*.whl | head -1)
      case "$whl" in
        *+cpu*) say "torch wheel: $whl ($(du -h "$whl" | cut -f1))" ;;
        *) say "WARNING: $whl is not a +cpu build (it would pull in CUDA); removing it," \
                "the image will take torch from the PyTorch CPU index instead"
           rm -f "$whl" ;;
      esac
    else
      say "WARNING: no torch wheel ($(tail -1 /tmp/ohq-torch-download.log)); the image will take torch" \
          "from https://download.pytorch.org/whl/cpu instead"
    fi
  fi
fi
# 3. The CA bundle pip uses here, for pip inside the build (only the build stage sees it).
if [ "$CA_BUNDLE" = auto ]; then
  CA_BUNDLE=${PIP_CERT:-}
  if [ -z "$CA_BUNDLE" ] && command -v "${PIP:-pip}" >/dev/null 2>&1; then
    CA_BUNDLE=$("${PIP:-pip}" config list 2>/dev/null | sed -n "s/^[a-z:.]*cert='\(.*\)'$/\1/p" | head -1)
  fi
fi
if [ -n "$CA_BUNDLE" ]; then
  [ -s "$CA_BUNDLE" ] || die "CA bundle $CA_BUNDLE does not exist or is empty"
  mkdir -p docker/certs
  [ -f docker/certs/.gitignore ] || printf '*\n' >docker/certs/.gitignore
  cp "$CA_BUNDLE" docker/certs/ca-bundle.crt
  say "CA bundle for pip in the build: $CA_BUNDLE -> docker/certs/ca-bundle.crt"
fi
say "done. Next: scripts/container_smoke.sh, or docker build --network host -t ohq-flow:latest --build-arg BASE=$TAG ."
