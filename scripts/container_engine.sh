# Sourced by scripts/container_base_image.sh and scripts/container_smoke.sh: one set of functions over
# the container engine found here — docker (a reachable daemon), podman, or buildah (no daemon; as
# root with the vfs storage driver and chroot isolation, so it works inside another container).
#   OHQ_ENGINE=docker|podman|buildah   force one (default: the first of these that works)
#   OHQ_BUILDAH_STORAGE=overlay|vfs    buildah/podman storage driver (default: overlay where an overlay
#                                      mount works here, else vfs, which copies every layer in full:
#                                      ~56 GB of disk for this image's layer cache instead of ~8 GB)
#   OHQ_BUILDAH_ROOT=DIR               buildah/podman storage root (default: the engine's own)
# Functions: ce_pick, ce_image_exists IMAGE, ce_import TARFILE IMAGE MESSAGE, ce_build TAG ARGS...,
# ce_run IMAGE HOSTDIR CTRDIR CMD ARGS... (HOSTDIR mounted at CTRDIR; '' for none), ce_image_size IMAGE.

overlay_works() {  # can this (root) process mount an overlay file system?
  local d rc=1
  d=$(mktemp -d /var/tmp/ohq-overlay-probe.XXXXXX) || return 1
  mkdir -p "$d/l" "$d/u" "$d/w" "$d/m"
  if mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null; then
    umount "$d/m" && rc=0
  fi
  rm -rf "$d"
  return $rc
}

pick_storage() {
  if [ -z "${OHQ_BUILDAH_STORAGE:-}" ]; then
    if overlay_works; then OHQ_BUILDAH_STORAGE=overlay; else OHQ_BUILDAH_STORAGE=vfs; fi
  fi
}

ce_pick() {  # sets ENGINE (and the storage driver of podman/buildah) or returns 1 with the reason on stderr
  local e
  for e in ${OHQ_ENGINE:-docker podman buildah}; do
    case "$e" in
      docker) command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && { ENGINE=docker; return 0; } ;;
      podman) command -v podman >/dev/null 2>&1 && { ENGINE=podman; pick_storage; return 0; } ;;
      buildah) command -v buildah >/dev/null 2>&1 && { ENGINE=buildah; pick_storage; return 0; } ;;
      *) echo "ERROR: OHQ_ENGINE=$e: use docker, podman or buildah" >&2; return 1 ;;
    esac
  done
  echo "ERROR: no container engine: no reachable Docker daemon, no podman, no buildah" \
       "(on Debian: apt-get install buildah)" >&2
  return 1
}

ce_cmd() {  # the engine's command line with its storage options
  if [ "$ENGINE" = docker ]; then echo docker; return; fi
  echo "$ENGINE --storage-driver $OHQ_BUILDAH_STORAGE${OHQ_BUILDAH_ROOT:+ --root $OHQ_BUILDAH_ROOT}"
}

ce_image_exists() {
  case "$ENGINE" in
    buildah) $(ce_cmd) inspect --type image "$1" >/dev/null 2>&1 ;;
    *) $(ce_cmd) image inspect "$1" >/dev/null 2>&1 ;;
  esac
}

ce_import() {  # ce_import ROOTFS.tar IMAGE MESSAGE: a root file system as a one-layer image
  local env1='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' env2='LANG=C.UTF-8'
  case "$ENGINE" in
    buildah)
      local c
      c=$($(ce_cmd) from scratch) || return 1
      $(ce_cmd) add "$c" "$1" / >/dev/null \
        && $(ce_cmd) config --env "$env1" --env "$env2" --cmd /bin/bash --label "org.opencontainers.image.description=$3" "$c" \
        && $(ce_cmd) commit -q "$c" "$2" >/dev/null
      local rc=$?
      $(ce_cmd) rm "$c" >/dev/null
      return $rc ;;
    *)
      $(ce_cmd) import --change "ENV $env1" --change "ENV $env2" --change 'CMD ["/bin/bash"]' \
        --message "$3" "$1" "$2" >/dev/null ;;
  esac
}

ce_build() {  # ce_build TAG [BUILD ARGS...]: build the Dockerfile in the current directory
  local tag=$1; shift
  case "$ENGINE" in
    buildah) $(ce_cmd) build --isolation chroot --layers -t "$tag" "$@" . ;;
    podman) $(ce_cmd) build --isolation chroot --layers --network host -t "$tag" "$@" . ;;
    docker) docker build --network host -t "$tag" "$@" . ;;
  esac
}

ce_run() {  # ce_run IMAGE HOSTDIR CTRDIR CMD [ARGS...]: CMD in a fresh container of IMAGE, removed after
  local image=$1 host=$2 ctr=$3; shift 3
  local vol=()
  [ -n "$host" ] && vol=(-v "$host:$ctr")
  case "$ENGINE" in
    buildah)
      local c rc
      c=$($(ce_cmd) from -q "$image") || return 1
      $(ce_cmd) run --isolation chroot "${vol[@]}" "$c" -- "$@"
      rc=$?
      $(ce_cmd) rm "$c" >/dev/null
      return $rc ;;
    *) $(ce_cmd) run --rm --network host "${vol[@]}" --entrypoint "$1" "$image" "${@:2}" ;;
  esac
}

ce_image_size() {  # e.g. '3.83 GB'
  case "$ENGINE" in
    docker) docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.2f GB\n", $1/1e9}' ;;
    *) $(ce_cmd) images --format '{{.Size}}' "$1" | head -1 ;;
  esac
}
