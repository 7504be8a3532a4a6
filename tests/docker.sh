#!/usr/bin/env bash
# A private Docker daemon for the image tests (nothing is pulled; images are built locally).
#
#   eval "$(tests/docker.sh start)"   # installs docker.io if needed, starts dockerd (or reuses it),
#                                     # prints: export DOCKER_HOST=unix://...
#   tests/docker.sh env               # prints the export line (exit 1 when the daemon is not up)
#   tests/docker.sh stop              # stops the daemon (SIGTERM, SIGKILL after 30 s)
#
# Layout:
#   ${REDHIVE_CACHE:-/var/cache/redhive}/docker/data   --data-root (persistent: images survive)
#   ${REDHIVE_CACHE:-/var/cache/redhive}/docker/dockerd.log
#   ${REDHIVE_DOCKER_RUN:-/run/redhive-docker}/        socket, pidfile, --exec-root (short paths:
#                                                      unix socket paths are limited to 108 bytes)
#
# Only stdout carries the export line; progress goes to stderr.
set -euo pipefail

CACHE="${REDHIVE_CACHE:-/var/cache/redhive}"
BASE="$CACHE/docker"
RUN="${REDHIVE_DOCKER_RUN:-/run/redhive-docker}"
SOCK="$RUN/docker.sock"
PIDFILE="$RUN/dockerd.pid"
LOG="$BASE/dockerd.log"
export DOCKER_HOST="unix://$SOCK"

log() { echo "docker.sh: $*" >&2; }

running_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
  echo "$pid"
}

answers() { docker info >/dev/null 2>&1; }

install_docker() {
  if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then return 0; fi
  log "installing docker.io (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends docker.io >&2
}

start() {
  install_docker
  mkdir -p "$BASE/data" "$RUN"
  if running_pid >/dev/null; then
    if answers; then
      log "dockerd already running (pid $(running_pid)), reusing it"
      echo "export DOCKER_HOST=$DOCKER_HOST"
      return 0
    fi
  else
    # stale leftovers of a daemon that died
    rm -f "$PIDFILE" "$SOCK"
  fi
  if ! running_pid >/dev/null; then
    log "starting dockerd (data-root $BASE/data, log $LOG)"
    # setsid: the daemon must not belong to the caller's process group / terminal.
    setsid dockerd \
      --host "$DOCKER_HOST" \
      --data-root "$BASE/data" \
      --exec-root "$RUN/exec" \
      --pidfile "$PIDFILE" \
      >>"$LOG" 2>&1 </dev/null &
  fi
  local i
  for i in $(seq 1 120); do
    if answers; then
      log "dockerd up (pid $(running_pid || echo '?'))"
      echo "export DOCKER_HOST=$DOCKER_HOST"
      return 0
    fi
    sleep 0.5
  done
  log "dockerd did not answer in 60 s; tail of $LOG:"
  tail -n 40 "$LOG" >&2 || true
  return 1
}

stop() {
  local pid i
  if ! pid="$(running_pid)"; then
    log "dockerd not running"
    rm -f "$PIDFILE" "$SOCK"
    return 0
  fi
  log "stopping dockerd (pid $pid)"
  kill -TERM "$pid"
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "dockerd still alive after 30 s, SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE" "$SOCK"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env)
    if running_pid >/dev/null && answers; then echo "export DOCKER_HOST=$DOCKER_HOST"; else log "dockerd not running (run: $0 start)"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
