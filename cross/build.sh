#!/usr/bin/env bash
# A static aarch64 redhive (Raspberry Pi OS 64-bit) built on an x86_64 Debian 12 machine, with
# Debian's Rust toolchain and arm64 standard library (rustup cannot fetch other targets here)
# and the aarch64 GNU cross compilers for RocksDB's C++. Checks that the result is a static
# aarch64 ELF and that it runs under qemu. Prints the binary's path last.
#
#   cross/build.sh            # build and check
#   cross/build.sh --smoke    # also run `redhive serve` under qemu and ask /api/health
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
export CARGO_TARGET_DIR=${REDHIVE_CROSS_TARGET_DIR:-/var/cache/redhive/target-aarch64}

packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu
          g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static clang libclang-dev file curl)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get update -qq
fi
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Debian's toolchain by full path: rustup's shims come first on PATH.
export RUSTC=/usr/bin/rustc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# Static glibc and libstdc++: one file that runs on any aarch64 Linux.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=/usr/aarch64-linux-gnu"
/usr/bin/cargo build --release --locked --target "$target" --bin redhive >&2

bin=$CARGO_TARGET_DIR/$target/release/redhive
description=$(file -b "$bin")
echo "$description" >&2
case $description in
    *"ARM aarch64"*"statically linked"*|*"ARM aarch64"*"static-pie linked"*) ;;
    *) echo "not a static aarch64 executable: $description" >&2; exit 1 ;;
esac
if ldd "$bin" 2>/dev/null | grep -q '=>'; then
    echo "ldd lists shared libraries:" >&2; ldd "$bin" >&2; exit 1
fi
qemu-aarch64-static "$bin" --version >&2

if [ "${1:-}" = "--smoke" ]; then
    data=$(mktemp -d /tmp/redhive-cross.XXXXXX)
    trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
    REDHIVE_RUNTIME=process REDHIVE_MDNS=off qemu-aarch64-static "$bin" serve --data-dir "$data/data" \
        --listen 127.0.0.1:18990 --mongo-listen 127.0.0.1:18991 >"$data/serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 120); do
        if curl -sf http://127.0.0.1:18990/api/health >&2; then echo >&2; break; fi
        sleep 1
    done
    curl -sf http://127.0.0.1:18990/api/health >/dev/null || { cat "$data/serve.log" >&2; exit 1; }
    echo "aarch64 redhive answered /api/health under qemu" >&2
fi
echo "$bin"
