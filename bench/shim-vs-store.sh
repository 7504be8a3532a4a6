#!/usr/bin/env bash
# Benchmark (not a test): insert, find by key and findAndModify upsert, one at a time,
# (a) directly on the store in-process and (b) through the MongoDB shim with the Node driver.
# Prints both side by side and the shim/store ratios. Release build; needs tests/setup.sh done.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/redhive/target}
ops=${BENCH_OPS:-2000}
work=$(mktemp -d /tmp/redhive-bench.XXXXXX)
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

cargo build --release --quiet --bins --benches
BENCH_OPS=$ops cargo bench --quiet --bench store > "$work/store.jsonl"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REDHIVE_LOG=warn "$CARGO_TARGET_DIR/release/redhive" --data-dir "$work/data" serve \
    --listen "127.0.0.1:$http" --mongo-listen "127.0.0.1:$port" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$http/api/health" >/dev/null && break
    sleep 0.1
done
BENCH_OPS=$ops node bench/shim.js "$(cat "$work/data/secrets/mongo-root.uri")" > "$work/shim.jsonl"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $ops sequential operations each"
python3 - "$work/store.jsonl" "$work/shim.jsonl" <<'PY'
import json, sys
store = {r["op"]: r for r in map(json.loads, open(sys.argv[1]))}
shim = {r["op"]: r for r in map(json.loads, open(sys.argv[2]))}
print(f"{'operation':<24}{'store ops/s':>12}{'shim ops/s':>12}{'ratio':>7}  {'store p50/p99 µs':>18}{'shim p50/p99 µs':>18}")
for op in store:
    s, m = store[op], shim[op]
    print(f"{op:<24}{s['ops_per_sec']:>12}{m['ops_per_sec']:>12}{m['ops_per_sec']/s['ops_per_sec']:>7.2f}  "
          f"{str(s['p50_us'])+' / '+str(s['p99_us']):>18}{str(m['p50_us'])+' / '+str(m['p99_us']):>18}")
PY
