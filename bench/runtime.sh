#!/usr/bin/env bash
# Benchmark (not a test): start time (to the editor's first HTTP 200) and idle memory per tenant
# (PSS, plus the docker shim and redhive's own share) of Node-RED 5.0.7 started (a) by hand,
# (b) by redhive's process runtime, (c) by its docker runtime, for 1 and 10 tenants started at
# once. Prints a table with the ratios to bare Node-RED. The measuring is in bench/runtime.py.
# Root only (cgroups). Release build (built here only when missing); the private dockerd of
# tests/docker.sh; the image is built when missing. Loopback only.
#   BENCH_TENANTS="1 10"  tenant counts     BENCH_IDLE=15  s idle before reading PSS
#   BENCH_WAYS="bare process docker"        BENCH_WARMUP=1 one unmeasured start per way first
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/redhive/target}
[ "$(id -u)" = 0 ] || { echo "bench/runtime.sh: must run as root (cgroups)" >&2; exit 1; }
export REDHIVE_BIN="$CARGO_TARGET_DIR/release/redhive"
export REDHIVE_IMAGE=${REDHIVE_IMAGE:-redhive/node-red:5.0.7-local}
export REDHIVE_NODE_HOME=${REDHIVE_NODE_HOME:-/var/cache/redhive/node-home}

[ -x "$REDHIVE_BIN" ] || cargo build --release --quiet --bins
[ -f /var/cache/redhive/node-red-5.0.7/node_modules/node-red/red.js ] || bash custom-node-red/test/setup-node-red.sh >/dev/null

work=$(mktemp -d /tmp/redhive-bench.XXXXXX)
chmod 755 "$work" # the process runtime runs tenants under their own uids
export BENCH_WORK=$work
export BENCH_CGROUP_PARENT="rh-bench-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
own_dockerd=
py=
cleanup() {
    local rc=$?
    trap '' INT TERM
    if [ -n "$py" ] && kill -0 "$py" 2>/dev/null; then
        kill -TERM "$py" 2>/dev/null || true
        wait "$py" 2>/dev/null || true
    fi
    python3 bench/runtime.py cleanup || true # leftovers of this run only (pids, containers, cgroups)
    [ -z "$own_dockerd" ] || tests/docker.sh stop || true
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ " ${BENCH_WAYS:-docker} " == *" docker "* ]]; then
    tests/docker.sh env >/dev/null 2>&1 || own_dockerd=1 # started here: stopped again on exit
    eval "$(tests/docker.sh start)"
    docker image inspect "$REDHIVE_IMAGE" >/dev/null 2>&1 ||
        REDHIVE_IMAGE_TAG="$REDHIVE_IMAGE" custom-node-red/image/build-local.sh >/dev/null
fi

# In the background so that a signal reaches the trap at once (it forwards SIGTERM).
python3 bench/runtime.py &
py=$!
wait "$py"
