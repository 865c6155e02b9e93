#!/usr/bin/env bash
# Makes sure a Docker engine answers, for `pnpm test:docker` and the compose
# cluster on machines without one (our CI and dev VMs: Debian, root, no
# systemd, no registry). Idempotent: if `docker info` already works (a Docker
# Desktop, a systemd dockerd, DOCKER_HOST pointing somewhere) it does nothing.
# Otherwise it installs docker.io (and docker-compose v1, the only compose in
# Debian bookworm) with apt and starts dockerd in the background with:
#   --iptables=false  published ports go through docker-proxy, and the host's
#                     firewall rules stay untouched;
#   overlay2          works on these kernels (vfs would be much slower).
# The daemon outlives this script; its log is $RAFTKA_DOCKER_DIR/dockerd.log.
#
# Environment: RAFTKA_DOCKER_DIR (default /var/lib/raftka-docker) holds the
# pid file and log; DOCKER_BIP (default 10.125.0.1/24) is docker0's address.
set -euo pipefail

state_dir="${RAFTKA_DOCKER_DIR:-/var/lib/raftka-docker}"
bip="${DOCKER_BIP:-10.125.0.1/24}"

say() { printf 'start-docker: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  say "a Docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')); nothing to do"
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
  say "DOCKER_HOST=$DOCKER_HOST does not answer and is not a local socket; start that engine yourself"
  exit 1
fi

if [ "$(id -u)" != 0 ]; then
  say "no Docker engine answers and this is not root: start one (e.g. 'sudo $0') or set DOCKER_HOST"
  exit 1
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
if [ "${#need[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || { say "no dockerd and no apt-get: install Docker for this system"; exit 1; }
  say "installing ${need[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

socket="${DOCKER_HOST:-unix:///var/run/docker.sock}"
socket_path="${socket#unix://}"
mkdir -p "$state_dir"
pidfile="$state_dir/dockerd.pid"

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  say "dockerd $(cat "$pidfile") runs but does not answer yet; waiting"
else
  say "starting dockerd on $socket (log: $state_dir/dockerd.log)"
  # setsid: the daemon must not die with this script's session or terminal.
  setsid dockerd -H "$socket" --pidfile "$pidfile" \
    --iptables=false --ip6tables=false --bip "$bip" --storage-driver=overlay2 \
    >>"$state_dir/dockerd.log" 2>&1 </dev/null &
fi

for _ in $(seq 1 60); do
  if DOCKER_HOST="$socket" docker info >/dev/null 2>&1; then
    say "dockerd answers on $socket"
    [ "$socket_path" = /var/run/docker.sock ] || say "export DOCKER_HOST=$socket"
    exit 0
  fi
  sleep 0.5
done
say "dockerd did not answer within 30 s; last lines of its log:"
tail -n 20 "$state_dir/dockerd.log" >&2 || true
exit 1
