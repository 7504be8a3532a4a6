#!/usr/bin/env bash
# Install everything the test suite needs. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p "${REDHIVE_CACHE:-/var/cache/redhive}"

scripts/build-deps.sh

apt_need=()
command -v strace >/dev/null 2>&1 || apt_need+=(strace)
# tests/front/test_browser.py: headless Chromium and its WebDriver
command -v chromium >/dev/null 2>&1 || apt_need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || apt_need+=(chromium-driver)
# tests/mdns: the stock Linux resolver path (nss-mdns + avahi, run only inside test namespaces),
# curl and openssl for the HTTPS test.
command -v avahi-daemon >/dev/null 2>&1 || apt_need+=(avahi-daemon)
command -v avahi-resolve >/dev/null 2>&1 || apt_need+=(avahi-utils)
ls /usr/lib/*/libnss_mdns4_minimal.so.2 >/dev/null 2>&1 || apt_need+=(libnss-mdns)
command -v curl >/dev/null 2>&1 || apt_need+=(curl)
command -v openssl >/dev/null 2>&1 || apt_need+=(openssl)
# tests/systemd: systemd-analyze verify of the unit.
command -v systemd-analyze >/dev/null 2>&1 || apt_need+=(systemd)
# tests/image: the Wi-Fi script's output read by NetworkManager's and wpa_supplicant's own
# parsers (offline: no daemon starts), shellcheck on the image's scripts, and the image booted
# in qemu-system-aarch64 (image/build.sh installs what building it needs).
command -v nmcli >/dev/null 2>&1 || apt_need+=(network-manager)
command -v wpa_passphrase >/dev/null 2>&1 || apt_need+=(wpasupplicant)
command -v shellcheck >/dev/null 2>&1 || apt_need+=(shellcheck)
command -v qemu-system-aarch64 >/dev/null 2>&1 || apt_need+=(qemu-system-arm)
if ((${#apt_need[@]})); then
    echo "installing: ${apt_need[*]}" >&2
    apt-get update -qq
    # No daemon may start on the host (avahi would announce itself on its real network), and
    # the host's name lookups stay as they were: the mDNS tests bring their own nsswitch.conf.
    cp /etc/nsswitch.conf /tmp/redhive-nsswitch.conf
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_need[@]}" >/dev/null
    if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
    cp /tmp/redhive-nsswitch.conf /etc/nsswitch.conf
fi

# npm ci in DIR, only when its lockfile changed since the last install there.
npm_ci() {
    local dir=$1 sum stamp
    sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    stamp=$dir/node_modules/.redhive-lock-sha256
    if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$sum" > "$stamp"
    fi
}
# Real MongoDB clients for Node (drivers 6 and 7, mongoose 8 and 5, mongosh).
npm_ci tests/clients
# The tenant plugins, and Node.js 22 with Node-RED 5.0.7 for their integration test.
npm_ci custom-node-red
bash custom-node-red/test/setup-node-red.sh >/dev/null

# pymongo, pytest and the rest in a virtualenv of their own.
bash tests/python/venv.sh >/dev/null
