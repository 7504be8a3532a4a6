#!/usr/bin/env bash
# Build dependencies of the redhive binary itself: polodb_core builds RocksDB, whose Rust
# bindings are generated with libclang. Idempotent; installs only what is missing.
set -euo pipefail

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
ldconfig -p 2>/dev/null | grep -q 'libclang' || need+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
if ((${#need[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "redhive needs these Debian packages to build: ${need[*]} (run as root or install them)" >&2
        exit 1
    fi
    echo "installing build dependencies: ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
