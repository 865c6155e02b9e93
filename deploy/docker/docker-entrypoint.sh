#!/bin/sh
# Entrypoint of the Raftka image (under tini). `controller` or `broker` as the
# first argument runs that node; anything else is handed to the raftka CLI
# (`docker run raftka:dev config docs`).
#
# A node's properties file is assembled here, later lines winning (the node
# parses key=value lines in order):
#   1. RAFTKA_CONFIG_FILE, if set: a mounted file (a Kubernetes ConfigMap);
#   2. node.id = RAFTKA_NODE_ID_OFFSET + the ordinal at the end of the host
#      name, if RAFTKA_NODE_ID_OFFSET is set (StatefulSet pod raftka-broker-2
#      with offset 101 is node 103);
#   3. every RAFTKA_CFG_<KEY>=value variable, KEY lower-cased with `_` -> `.`
#      (RAFTKA_CFG_CONTROLLER_QUORUM_VOTERS -> controller.quorum.voters;
#      no Raftka key has an underscore).
# The file goes to RAFTKA_NODE_CONFIG (the healthcheck reads it too), then
# node is exec'd so it is tini's direct child and receives SIGTERM itself.
# Arguments after the role are passed on (`broker --override log.level=debug`).
set -eu

cli="${RAFTKA_HOME:-/opt/raftka}/packages/server/dist/cli.js"

case "${1:-}" in
  controller | broker)
    role=$1
    shift
    ;;
  *) exec raftka "$@" ;;
esac

out="${RAFTKA_NODE_CONFIG:-/tmp/raftka/node.properties}"
mkdir -p "$(dirname "$out")"
{
  echo "# written by docker-entrypoint.sh for: raftka $role"
  if [ -n "${RAFTKA_CONFIG_FILE:-}" ]; then
    cat "$RAFTKA_CONFIG_FILE"
    echo
  fi
  if [ -n "${RAFTKA_NODE_ID_OFFSET:-}" ]; then
    # Docker and Kubernetes set HOSTNAME (a StatefulSet pod's is its name).
    host=${HOSTNAME:-$(uname -n)}
    ordinal=${host##*-}
    case "$ordinal" in
      '' | *[!0-9]*)
        echo "docker-entrypoint: RAFTKA_NODE_ID_OFFSET is set but host name '$host' does not end in -<ordinal>" >&2
        exit 1
        ;;
    esac
    echo "node.id=$((RAFTKA_NODE_ID_OFFSET + ordinal))"
  fi
  env | LC_ALL=C sort | awk '
    /^RAFTKA_CFG_[A-Za-z0-9_]+=/ {
      eq = index($0, "=")
      key = tolower(substr($0, 12, eq - 12))
      gsub(/_/, ".", key)
      print key "=" substr($0, eq + 1)
    }'
} >"$out.tmp"
mv "$out.tmp" "$out"

exec node "$cli" "$role" --config "$out" "$@"
