#!/usr/bin/env bash
# Install everything the test suite needs. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${REDHIVE_CACHE:-/var/cache/redhive}
venv=${REDHIVE_TEST_VENV:-$cache/venv}
mkdir -p "$cache"

scripts/build-deps.sh

apt_need=()
command -v strace >/dev/null 2>&1 || apt_need+=(strace)
if ((${#apt_need[@]})); then
    echo "installing: ${apt_need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_need[@]}" >/dev/null
fi

# Real MongoDB clients for Node (drivers 6 and 7, mongoose 8 and 5, mongosh).
if [ ! -d tests/clients/node_modules ] || ! cmp -s tests/clients/package-lock.json tests/clients/node_modules/.package-lock.json; then
    (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
fi

# pymongo and pytest in a virtualenv of their own.
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! cmp -s tests/python/requirements.txt "$venv/.requirements.txt"; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
    cp tests/python/requirements.txt "$venv/.requirements.txt"
fi
