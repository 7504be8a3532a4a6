#!/bin/sh
# Entry point of the redhive tenant image (production Dockerfile and image/build-local.sh).
#   - heap cap from REDHIVE_MEMORY_LIMIT_MB (../heap.js; V8 reads it before any JS runs)
#   - Node-RED from /usr/src/node-red, userDir /data, our settings.js (redhive's process runtime
#     gives the same layout inside its jail; without root it points REDHIVE_NR_HOME and
#     REDHIVE_USER_DIR at its own directories)
#   - exec: node becomes PID 1 and gets SIGTERM from `docker stop` (red.js stops the flows and
#     exits). Run with `docker run --init` if palette installs may leave orphaned processes.
# Extra arguments are passed to red.js (e.g. `--safe`).
set -e
NR_HOME="${REDHIVE_NR_HOME:-/usr/src/node-red}"
HEAP="$(node "$NR_HOME/redhive/heap.js" "${REDHIVE_MEMORY_LIMIT_MB:-}")"
cd "$NR_HOME"
# shellcheck disable=SC2086 # NODE_OPTIONS-style word splitting is intended for NODE_ARGS
exec node ${HEAP:+--max-old-space-size=$HEAP} ${NODE_ARGS:-} \
  "$NR_HOME/node_modules/node-red/red.js" \
  --userDir "${REDHIVE_USER_DIR:-/data}" \
  --settings "$NR_HOME/redhive/settings.js" \
  "$@"
