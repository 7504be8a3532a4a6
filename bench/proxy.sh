#!/usr/bin/env bash
# Benchmark (not a test): throughput and p99 latency of redhive's Host-routed reverse proxy
# against (a) the tenant's Node-RED reached directly on its loopback port and (b) nginx set up
# as a fair reverse proxy to the same Node-RED (upstream keepalive, HTTP/1.1). wrk drives all
# three with the same request; rounds alternate between them. Prints a table with the ratios to
# direct, the RSS of redhive and nginx, and the machine's CPU count and load. The measuring is in
# bench/proxy.py, which cleans up after itself (also on Ctrl-C / SIGTERM).
# Root only (the process runtime's cgroups). Release build; nginx and wrk from apt when missing.
# Loopback only.
#   bench/proxy.sh [--duration 10] [--warmup 3] [--rounds 3] [--path /red/keymap.json]
#                  [--connections 10,50] [--json results.json]
#   REDHIVE_BIN (default /var/cache/redhive/target/release/redhive), REDHIVE_NODE_HOME,
#   REDHIVE_BENCH_KEEP=1 keeps the temp dir (logs, nginx.conf, data dir).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/proxy.sh: must run as root (cgroups)" >&2; exit 1; }
if [ -z "${REDHIVE_BIN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/redhive/target}
    export REDHIVE_BIN="$CARGO_TARGET_DIR/release/redhive"
    [ -x "$REDHIVE_BIN" ] || cargo build --release --quiet --bins
fi
[ -x "$REDHIVE_BIN" ] || { echo "bench/proxy.sh: no executable at REDHIVE_BIN=$REDHIVE_BIN" >&2; exit 1; }
export REDHIVE_NODE_HOME=${REDHIVE_NODE_HOME:-/var/cache/redhive/node-home}

# nginx and wrk. Where installing a package starts its service (no policy-rc.d), Debian's nginx
# package also starts its default site on port 80: `systemctl disable --now nginx` if unwanted.
# The benchmark's own nginx never reads /etc/nginx.
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench/proxy.sh: installing ${missing[*]} with apt-get" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# exec: Ctrl-C and SIGTERM reach proxy.py directly; it stops nginx and redhive, removes the
# tenant's processes and cgroups and the temp dir (unless REDHIVE_BENCH_KEEP=1).
exec python3 bench/proxy.py "$@"
