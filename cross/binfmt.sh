#!/usr/bin/env bash
# Lets this x86_64 machine run aarch64 programs transparently (chroot into an arm64 root
# filesystem, arm64 containers): qemu-user-static registered with binfmt_misc, with the "F"
# flag so the interpreter is opened now and works inside chroots and containers too.
set -euo pipefail
if ! dpkg -s qemu-user-static binfmt-support >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
    { echo "qemu-aarch64 is registered without the F flag" >&2; exit 1; }
