#!/usr/bin/env bash
# Builds a flashable redhive SD card image (arm64): flash it, boot, open http://redhive.local.
#
#   image/build.sh --base raspios.img --out redhive.img   # from a Raspberry Pi OS Lite (64-bit) image
#   image/build.sh --out redhive-debian.img               # from Debian bookworm arm64 (debootstrap):
#                                                         # what the tests boot in qemu-system-aarch64
# Options:
#   --bin FILE            the static aarch64 redhive (default: built by cross/build.sh)
#   --tenant-image FILE   `docker save` of the arm64 tenant image (default: built by
#                         custom-node-red/image/build-local.sh; needs a Docker daemon, DOCKER_HOST)
#   --no-tenant-image     ship none: tenants run as processes until an image is loaded
#   --size-mib N          size of the Debian image (default 3072); Raspberry Pi OS images are
#                         grown by what is added and expand to the card on first boot
#
# Both bases go through the same step: the root partition is loop-mounted, the boot partition
# edited with mtools, and redhive installed into them; see customize().
# Needs root (loop devices, chroot through qemu-user-static). Caches in $REDHIVE_CACHE/image.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${REDHIVE_CACHE:-/var/cache/redhive}/image
SUITE=bookworm
# The Debian base: systemd, the kernel for qemu's "virt" board, Docker, networkd + resolved
# (wired DHCP), wpa_supplicant (Wi-Fi from the boot partition), zram swap, NTP.
DEBIAN_PACKAGES=systemd-sysv,udev,kmod,linux-image-arm64,docker.io,iproute2,ca-certificates,systemd-timesyncd,systemd-resolved,systemd-zram-generator,wpasupplicant,dbus,e2fsprogs,procps,netbase
BOOT_MIB=256

log() { echo "image: $*" >&2; }
die() { log "$*"; exit 1; }
T0=$(date +%s)

base=debian out="" bin="" tenant_image="" ship_tenant_image=1 size_mib=3072
while (($#)); do
    case $1 in
        --base) base=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --tenant-image) tenant_image=$2; shift 2 ;;
        --no-tenant-image) ship_tenant_image=0; shift ;;
        --size-mib) size_mib=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[ -n "$out" ] || die "--out FILE is required"
[ "$(id -u)" = 0 ] || die "run as root (loop devices and chroot)"
[ "$base" = debian ] || [ -f "$base" ] || die "--base: no such image $base"
if ! [[ $size_mib =~ ^[0-9]+$ ]] || ((size_mib < 1024)); then die "--size-mib: at least 1024"; fi

need=()
for tool in debootstrap:debootstrap mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk mkfs.ext4:e2fsprogs \
            losetup:mount file:file; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cross/binfmt.sh
mkdir -p "$CACHE"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/redhive-image.XXXXXX")
MOUNTS=() LOOPS=()
cleanup() {
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null || true; done
    for loop in "${LOOPS[@]}"; do losetup -d "$loop" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# The host's Debian mirror, as apt is configured here.
mirror() {
    local uri
    uri=$(grep -hs -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
    [ -n "$uri" ] || uri=$(grep -hs -E '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1)
    [ -n "$uri" ] || die "no Debian mirror in the apt sources"
    echo "$uri"
}

# ---- inputs: the binary, the tenant image, the node home ---------------------------------------
if [ -z "$bin" ]; then
    log "building the aarch64 binary (cross/build.sh)"
    bin=$(cross/build.sh | tail -1)
fi
case $(file -b "$bin") in
    *"ARM aarch64"*static*) ;;
    *) die "$bin is not a static aarch64 executable" ;;
esac
if ((ship_tenant_image)) && [ -z "$tenant_image" ]; then
    log "building the arm64 tenant image (custom-node-red/image/build-local.sh)"
    tenant_image=$CACHE/tenant-image-arm64.tar
    REDHIVE_IMAGE_ARCH=arm64 REDHIVE_IMAGE_SAVE=$tenant_image custom-node-red/image/build-local.sh >/dev/null
fi
((ship_tenant_image == 0)) || [ -f "$tenant_image" ] || die "no tenant image archive $tenant_image"

# Node.js, Node-RED and Verdaccio for arm64, installed by the aarch64 redhive itself (through
# binfmt) with the host's npm: the appliance has no npm, and must work offline from the start.
node_home=$CACHE/node-home-arm64
log "preparing the arm64 node home in $node_home"
REDHIVE_NODE_HOME=$node_home REDHIVE_DATA_DIR=$WORK/prepare "$bin" prepare

# ---- the base image ------------------------------------------------------------------------------
# A Debian arm64 root filesystem, cached by its package list.
debian_rootfs() {
    local key dir
    key=$(echo "$SUITE $DEBIAN_PACKAGES" | sha256sum | cut -c1-12)
    dir=$CACHE/debian-$SUITE-arm64-$key
    if [ ! -e "$dir/.complete" ]; then
        rm -rf "$dir"
        log "debootstrap $SUITE arm64 into $dir (several minutes: the second stage runs emulated)"
        debootstrap --arch=arm64 --variant=minbase --include="$DEBIAN_PACKAGES" \
            "$SUITE" "$dir" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 ||
            die "debootstrap failed: see $CACHE/debootstrap.log"
        # Every box gets its own machine id on first boot; no package cache or backups.
        : >"$dir/etc/machine-id"
        rm -f "$dir/var/lib/dbus/machine-id" "$dir"/var/cache/apt/archives/*.deb "$dir"/boot/*.dpkg-bak
        touch "$dir/.complete"
    fi
    echo "$dir"
}

# A two-partition MBR image like Raspberry Pi OS's: FAT "bootfs" (kernel, initrd, cmdline.txt;
# qemu is handed the kernel the firmware would load) and ext4 "rootfs".
debian_image() {
    local rootfs=$1 image=$2 boot=$WORK/bootfs root_mib=$((size_mib - BOOT_MIB - 4))
    mkdir -p "$boot"
    cp -L "$rootfs"/boot/vmlinuz-* "$boot/vmlinuz"
    cp -L "$rootfs"/boot/initrd.img-* "$boot/initrd.img"
    echo "console=ttyAMA0,115200 console=tty1 root=LABEL=rootfs rootfstype=ext4 fsck.repair=yes rootwait" >"$boot/cmdline.txt"
    cat >"$boot/config.txt" <<'EOF'
# Debian arm64 test image for qemu-system-aarch64 -M virt: the kernel and initrd here are
# passed with -kernel/-initrd and cmdline.txt with -append (the Pi firmware's roles).
EOF
    rm -f "$WORK/boot.fat"
    mkfs.vfat -F 32 -n BOOTFS -C "$WORK/boot.fat" $((BOOT_MIB * 1024)) >/dev/null
    mcopy -s -i "$WORK/boot.fat" "$boot"/* ::
    cat >"$rootfs/etc/fstab" <<'EOF'
LABEL=rootfs  /              ext4  defaults,noatime,commit=5   0  1
LABEL=BOOTFS  /boot/firmware vfat  defaults,noatime,umask=0077 0  2
EOF
    mkdir -p "$rootfs/boot/firmware"
    log "making the ext4 root file system ($root_mib MiB)"
    mkfs.ext4 -q -F -L rootfs -E root_owner=0:0 -d "$rootfs" "$WORK/root.ext4" "${root_mib}M"
    truncate -s "${size_mib}M" "$image"
    sfdisk -q "$image" <<EOF
label: dos
start=4MiB, size=${BOOT_MIB}MiB, type=c
start=$((4 + BOOT_MIB))MiB, type=83
EOF
    dd if="$WORK/boot.fat" of="$image" bs=1M seek=4 conv=notrunc,sparse status=none
    dd if="$WORK/root.ext4" of="$image" bs=1M seek=$((4 + BOOT_MIB)) conv=notrunc,sparse status=none
    rm -f "$WORK/boot.fat" "$WORK/root.ext4"
}

# A user's Raspberry Pi OS image, copied and grown by what redhive adds.
raspios_image() {
    local source=$1 image=$2 grow_mib
    cp --sparse=always "$source" "$image"
    grow_mib=$(( ($(du -sm "$node_home" | cut -f1) + $( ((ship_tenant_image)) && du -sm "$tenant_image" | cut -f1 || echo 0) ) * 2 + 512 ))
    log "growing the root partition by $grow_mib MiB"
    truncate -s "+${grow_mib}M" "$image"
    echo ", +" | sfdisk -q -N 2 "$image"
    attach "$image" 2
    e2fsck -p -f "$ATTACHED" >/dev/null || [ $? -le 1 ] || die "e2fsck of the root partition failed"
    resize2fs "$ATTACHED" >/dev/null 2>&1
    losetup -d "$ATTACHED"
    LOOPS=()
}

# extent IMAGE N: byte offset and size of partition N.
extent() {
    sfdisk -J "$1" | python3 -c "
import json, sys
p = json.load(sys.stdin)['partitiontable']['partitions'][$2 - 1]
print(p['start'] * 512, p['size'] * 512)"
}

# attach IMAGE N: a loop device over partition N (by offset: no partition scanning needed),
# in ATTACHED; not printed, so that LOOPS is extended in this shell (cleanup detaches it).
attach() {
    local start size
    read -r start size < <(extent "$1" "$2")
    ATTACHED=$(losetup -f --show --offset "$start" --sizelimit "$size" "$1")
    LOOPS+=("$ATTACHED")
}

# The boot partition (FAT) is read and written with mtools, not mounted: the build machine's
# kernel may have no vfat (this one has none). BOOT_FS is IMAGE@@OFFSET.
boot_get() { MTOOLS_SKIP_CHECK=1 mcopy -n -i "$BOOT_FS" "::/$1" "$2" 2>/dev/null; }
boot_put() { MTOOLS_SKIP_CHECK=1 mcopy -o -i "$BOOT_FS" "$1" "::/$2"; }

# ---- redhive into a mounted image ------------------------------------------------------------------
customize() {
    local root=$1 is_raspios=$2
    boot_get cmdline.txt "$WORK/cmdline.txt" || die "no cmdline.txt on the boot partition"

    log "installing redhive, its units and its defaults"
    install -D -m 0755 "$bin" "$root/usr/bin/redhive"
    install -D -m 0644 README.md "$root/usr/share/doc/redhive/README.md"
    install -m 0644 systemd/redhive.service systemd/redhive-wifi.service "$root/etc/systemd/system/"
    # Appliance defaults (journal cap, zram, resolver without mDNS, networkd, Docker logs...).
    cp -a --no-preserve=ownership image/rootfs/. "$root/"
    boot_put image/redhive-wifi.txt redhive-wifi.txt.example

    if [ ! -x "$root/usr/sbin/dockerd" ]; then
        log "installing docker.io (apt in the image, emulated)"
        in_image "$root" apt-get update -qq
        in_image "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
        in_image "$root" apt-get clean
    fi

    log "preloading the node home$( ((ship_tenant_image)) && echo " and the tenant image")"
    mkdir -p "$root/var/lib/redhive"
    chmod 0711 "$root/var/lib/redhive"
    rm -rf "$root/var/lib/redhive/runtime"
    cp -a "$node_home" "$root/var/lib/redhive/runtime"
    rm -f "$root/var/lib/redhive/runtime/.install.lock"
    if ((ship_tenant_image)); then
        install -D -m 0644 "$tenant_image" "$root/usr/share/redhive/tenant-image.tar"
    fi

    # Memory limits need the memory cgroup, off by default in Raspberry Pi kernels.
    local cmdline
    cmdline=$(head -n 1 "$WORK/cmdline.txt" | tr -d '\r')
    for param in cgroup_enable=memory cgroup_memory=1; do
        [[ " $cmdline " == *" $param "* ]] || cmdline="$cmdline $param"
    done
    printf '%s\n' "$cmdline" >"$WORK/cmdline.txt"
    boot_put "$WORK/cmdline.txt" cmdline.txt

    echo redhive >"$root/etc/hostname"
    if ! grep -q '127.0.1.1' "$root/etc/hosts" 2>/dev/null; then
        echo "127.0.1.1	redhive" >>"$root/etc/hosts"
    else
        sed -i 's/^127\.0\.1\.1\s.*/127.0.1.1\tredhive/' "$root/etc/hosts"
    fi

    # tmp in RAM (less SD wear); a tmp.mount of the distribution's, enabled.
    if [ ! -e "$root/etc/systemd/system/tmp.mount" ] && [ -e "$root/usr/share/systemd/tmp.mount" ]; then
        cp "$root/usr/share/systemd/tmp.mount" "$root/etc/systemd/system/tmp.mount"
    fi
    local units=(redhive.service redhive-wifi.service docker.service tmp.mount systemd-timesyncd.service)
    if ((is_raspios == 0)); then
        units+=(systemd-networkd.service systemd-resolved.service)
        ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
    fi
    systemctl --root="$root" enable "${units[@]}" >/dev/null 2>&1 ||
        systemctl --root="$root" enable "${units[@]}"
    # redhive answers mDNS itself: a second responder on port 5353 would fight it. A swap
    # file on the SD card wears it out; zram replaces it.
    for unit in avahi-daemon.service avahi-daemon.socket dphys-swapfile.service; do
        if [ -e "$root/lib/systemd/system/$unit" ] || [ -e "$root/usr/lib/systemd/system/$unit" ]; then
            systemctl --root="$root" mask "$unit" >/dev/null 2>&1
        fi
    done
    if ((is_raspios == 0)); then
        # The test image has no password: nobody logs in, redhive is the interface.
        sed -i 's/^root:[^:]*:/root:*:/' "$root/etc/shadow"
    fi
}

# in_image ROOT COMMAND...: run in the image (arm64, through binfmt) with the host's DNS.
in_image() {
    local root=$1; shift
    for fs in dev proc sys; do
        mountpoint -q "$root/$fs" || { mount --bind "/$fs" "$root/$fs"; MOUNTS+=("$root/$fs"); }
    done
    [ -e "$root/etc/resolv.conf.redhive" ] || { mv "$root/etc/resolv.conf" "$root/etc/resolv.conf.redhive" 2>/dev/null || true; cp -L /etc/resolv.conf "$root/etc/resolv.conf"; }
    chroot "$root" "$@"
    rm -f "$root/etc/resolv.conf"
    mv "$root/etc/resolv.conf.redhive" "$root/etc/resolv.conf" 2>/dev/null || true
}

# ---- main ----------------------------------------------------------------------------------------
partial=$out.partial
rm -f "$partial"
if [ "$base" = debian ]; then
    debian_image "$(debian_rootfs)" "$partial"
    is_raspios=0
else
    raspios_image "$base" "$partial"
    is_raspios=1
fi

attach "$partial" 2
root_loop=$ATTACHED
BOOT_FS="$partial@@$(extent "$partial" 1 | cut -d' ' -f1)"
mnt=$WORK/mnt
mkdir -p "$mnt"
mount "$root_loop" "$mnt"; MOUNTS+=("$mnt")
customize "$mnt" "$is_raspios"
sync
for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}"; done
MOUNTS=()
e2fsck -p -f "$root_loop" >/dev/null || [ $? -le 1 ] || die "e2fsck found errors in the root file system"
mv "$partial" "$out" # (cleanup detaches the loop device)

size_mib=$(( $(stat -c %s "$out") / 1048576 ))
used_mib=$(( $(du -k "$out" | cut -f1) / 1024 ))
log "built $out: $size_mib MiB image, $used_mib MiB of data, in $(( $(date +%s) - T0 )) s"
echo "$out"
