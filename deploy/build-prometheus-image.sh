#!/usr/bin/env bash
# Makes a Prometheus image available for the compose file's `monitoring`
# profile on machines without a registry (our CI and dev VMs reach only the
# npm registry and Debian's mirror, so prom/prometheus cannot be pulled):
#   1. the official image (PROMETHEUS_OFFICIAL, default prom/prometheus:v2.55.1),
#      if present or pullable: nothing to build, it is printed;
#   2. else a local image raftka/prometheus:bookworm (PROMETHEUS_LOCAL_IMAGE):
#      Debian bookworm's `prometheus` package (2.42) installed with apt on a
#      Debian base: PROMETHEUS_BASE_IMAGE if given, else debian:bookworm-slim
#      if present or pullable, else the local Debian base that
#      deploy/build-base-image.sh makes with debootstrap. Built with
#      `--network host` (a daemon started with --iptables=false gives
#      containers no NAT, and apt must reach the mirror). It runs as the
#      package's `prometheus` user, with /prometheus (the compose file's
#      volume) owned by it. Rebuilt only when missing or when this recipe
#      changed (a label records the revision). About 30-60 s here.
# Debian's package serves the HTTP API (/api/v1/*) and the old console
# templates; it ships without the React web UI, which is enough for Grafana
# and for tests/docker/dashboard-queries.test.ts.
#
# The image name is printed on stdout, so:
#   export PROMETHEUS_IMAGE=$(deploy/build-prometheus-image.sh)
#   docker-compose --profile monitoring up -d prometheus
set -euo pipefail

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
official="${PROMETHEUS_OFFICIAL:-prom/prometheus:v2.55.1}"
local_image="${PROMETHEUS_LOCAL_IMAGE:-raftka/prometheus:bookworm}"
recipe_revision=1

say() { printf 'build-prometheus-image: %s\n' "$*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if ! docker info >/dev/null 2>&1; then
  say "no Docker engine answers; run deploy/start-docker.sh first"
  exit 1
fi

if have_image "$official" || timeout 60 docker pull -q "$official" >/dev/null 2>&1; then
  say "using $official"
  echo "$official"
  exit 0
fi
say "$official cannot be pulled (no registry?); using Debian's prometheus package"

if have_image "$local_image" &&
  [ "$(docker image inspect --format '{{index .Config.Labels "org.raftka.prometheus"}}' "$local_image")" = "r$recipe_revision" ]; then
  say "$local_image is already built"
  echo "$local_image"
  exit 0
fi

base="${PROMETHEUS_BASE_IMAGE:-}"
if [ -z "$base" ]; then
  if have_image debian:bookworm-slim || timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    base=debian:bookworm-slim
  else
    # The Raftka base: Debian bookworm minbase (node in it is unused here).
    base=raftka/node-base:20-bookworm
    have_image "$base" || base="$(env -u BASE_IMAGE "$root_dir/deploy/build-base-image.sh" --base-only)"
  fi
fi

start=$(date +%s)
say "building $local_image from $base"
# No build context: everything comes from Debian's mirror.
docker build --network host -t "$local_image" - >&2 <<EOF
FROM $base
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \\
 && apt-get install -y -qq --no-install-recommends prometheus >/dev/null \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \\
 && mkdir -p /prometheus /etc/prometheus \\
 && chown prometheus:prometheus /prometheus \\
 && /usr/bin/prometheus --version
LABEL org.raftka.prometheus=r$recipe_revision
USER prometheus
WORKDIR /prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
EOF
say "built $local_image in $(($(date +%s) - start)) s"
echo "$local_image"
