#!/bin/sh
# Entry point of the redhive tenant image (production Dockerfile and image/build-local.sh).
#   - heap cap from REDHIVE_MEMORY_LIMIT_MB (computed here: V8 reads it before any JS runs, and
#     a second node start just to compute it would cost ~60 ms here, ~300 ms on a Pi)
#   - Node-RED from /usr/src/node-red, userDir /data, our settings.js (redhive's process runtime
#     gives the same layout inside its jail; without root it points REDHIVE_NR_HOME and
#     REDHIVE_USER_DIR at its own directories)
#   - exec: node becomes PID 1 and gets SIGTERM from `docker stop` (red.js stops the flows and
#     exits). Run with `docker run --init` if palette installs may leave orphaned processes.
# Extra arguments are passed to red.js (e.g. `--safe`).
set -e
NR_HOME="${REDHIVE_NR_HOME:-/usr/src/node-red}"
# Three quarters of the memory limit (the rest is for V8's young generation, code, native
# buffers and npm child processes), at least 64 MiB; no cap without a valid positive limit.
HEAP= SEMI=
case "${REDHIVE_MEMORY_LIMIT_MB:-}" in
  "" | *[!0-9]*) ;;
  *)
    if [ "$REDHIVE_MEMORY_LIMIT_MB" -gt 0 ]; then
      HEAP=$((REDHIVE_MEMORY_LIMIT_MB * 3 / 4))
      if [ "$HEAP" -lt 64 ]; then HEAP=64; fi
      # Small tenants idle most of the time: a 2 MiB young generation (V8's default grows to
      # 16) saves ~15 MiB per idle Node-RED for a little more GC work under heavy load.
      if [ "$REDHIVE_MEMORY_LIMIT_MB" -le 512 ]; then SEMI=2; fi
    fi
    ;;
esac
# Node.js 22 keeps compiled modules here between starts (restarts ~10% faster); per tenant,
# since a cache another tenant could write would be a way into this one.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${REDHIVE_USER_DIR:-/data}/.cache/node-compile}"
cd "$NR_HOME"
# shellcheck disable=SC2086 # NODE_OPTIONS-style word splitting is intended for NODE_ARGS
exec node ${HEAP:+--max-old-space-size=$HEAP} ${SEMI:+--max-semi-space-size=$SEMI} ${NODE_ARGS:-} \
  "$NR_HOME/node_modules/node-red/red.js" \
  --userDir "${REDHIVE_USER_DIR:-/data}" \
  --settings "$NR_HOME/redhive/settings.js" \
  "$@"
