#!/usr/bin/env bash
# Run redhive from source on the embedded defaults: data in ./redhive-data, the web front on
# http://localhost:8080 (tenants at http://<name>.localhost:8080), the MongoDB shim on
# 127.0.0.1:27017. Extra arguments go to `redhive serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-deps.sh
exec cargo run --release --quiet -- serve "$@"
