#!/usr/bin/env bash
# Builds the Raftka image (deploy/Dockerfile) on any machine with a Docker
# engine, with or without a registry:
#   1. BASE_IMAGE given in the environment: that base is used as is;
#   2. else the official node:20-bookworm-slim, if present or pullable;
#   3. else (no registry, as on our CI and dev machines) a local base image
#      raftka/node-base:20-bookworm: a minimal Debian bookworm made with
#      debootstrap from Debian's mirror (plus tini and ca-certificates) with
#      the host's node and npm copied in, loaded with `docker import`. The
#      host's local CA certificates (/usr/local/share/ca-certificates) are
#      added and NODE_EXTRA_CA_CERTS points node at the system bundle, so
#      npm and pnpm inside the build trust what the host trusts (machines
#      whose egress goes through a TLS-intercepting proxy need that). It is
#      rebuilt only when missing, when the host's node version changed or
#      when this recipe changed (base_revision).
# Then `docker build --network host` (so the build's `pnpm fetch` reaches the
# npm registry even on a daemon started with --iptables=false, which gives
# containers no NAT) tags the image RAFTKA_IMAGE (default raftka:dev).
#
# usage: deploy/build-base-image.sh [--base-only]
#   RAFTKA_IMAGE      tag of the image (default raftka:dev)
#   BASE_IMAGE        base to build on (default: see above)
#   RAFTKA_BUILD_REF  build the sources of this git commit (e.g. HEAD) instead
#                     of the working tree
set -euo pipefail

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
official="node:20-bookworm-slim"
local_base="raftka/node-base:20-bookworm"
base_revision=2
image="${RAFTKA_IMAGE:-raftka:dev}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

say() { printf 'build-base-image: %s\n' "$*" >&2; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

build_local_base() {
  local node_bin node_version npm_dir rootfs
  node_bin="$(readlink -f "$(command -v node)")"
  node_version="$("$node_bin" --version)"
  case "$node_version" in
    v20.*) ;;
    *) say "warning: the host's node is $node_version; the image is meant for node 20" ;;
  esac
  if have_image "$local_base" &&
    [ "$(docker image inspect --format '{{index .Config.Labels "org.raftka.node-base"}}' "$local_base" 2>/dev/null)" = "$node_version-r$base_revision" ]; then
    say "$local_base (node $node_version) is already built"
    return
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  # npm comes from the host's install (Debian/NodeSource: /usr/lib/node_modules; official tarball: /usr/local/lib/...).
  npm_dir=""
  for d in "$(dirname "$node_bin")/../lib/node_modules/npm" /usr/lib/node_modules/npm /usr/local/lib/node_modules/npm; do
    if [ -f "$d/bin/npm-cli.js" ]; then
      npm_dir="$(cd "$d" && pwd)"
      break
    fi
  done
  [ -n "$npm_dir" ] || { say "cannot find the host's npm next to $node_bin"; exit 1; }

  rootfs="$(mktemp -d /var/tmp/raftka-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  say "debootstrap bookworm (minbase + tini, ca-certificates) into $rootfs from $mirror"
  debootstrap --variant=minbase --include=tini,ca-certificates bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
    { tail -n 20 "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  say "copying node $node_version and npm from the host"
  install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    say "adding the host's local CA certificates"
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  chroot "$rootfs" /usr/local/bin/node --version >/dev/null || { say "node does not run in the new root"; exit 1; }
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  say "importing $local_base"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL org.raftka.node-base=$node_version-r$base_revision" \
    --change 'CMD ["node"]' \
    - "$local_base" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
}

if ! docker info >/dev/null 2>&1; then
  say "no Docker engine answers; run deploy/start-docker.sh first"
  exit 1
fi

base="${BASE_IMAGE:-}"
if [ -z "$base" ]; then
  if have_image "$official" || timeout 60 docker pull -q "$official" >/dev/null 2>&1; then
    base="$official"
  else
    say "$official cannot be pulled (no registry?); using a local base image"
    build_local_base
    base="$local_base"
  fi
fi
[ "${1:-}" = "--base-only" ] && { echo "$base"; exit 0; }

start=$(date +%s)
build=(docker build --network host -f deploy/Dockerfile --build-arg "BASE_IMAGE=$base" -t "$image")
if [ -n "${RAFTKA_BUILD_REF:-}" ]; then
  # A commit instead of the working tree (uncommitted edits stay out of the image).
  say "building $image from $base, sources of $RAFTKA_BUILD_REF ($(git -C "$root_dir" rev-parse --short "$RAFTKA_BUILD_REF"))"
  git -C "$root_dir" archive --format=tar "$RAFTKA_BUILD_REF" | "${build[@]}" - >&2
else
  say "building $image from $base, sources of the working tree $root_dir"
  (cd "$root_dir" && "${build[@]}" . >&2)
fi
say "built $image in $(($(date +%s) - start)) s ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}'))"
