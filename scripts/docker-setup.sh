#!/usr/bin/env bash
# Docker for cab's docker sandbox, from nothing: install Debian's engine (docker.io),
# start dockerd with no bridge network and no iptables rules, make the root file system
# image locally (no registry is needed: debootstrap from the configured Debian archive,
# then `docker import`), and build the toolchain base and every agent's image with `cab images build`
# (the agent comes from its image: a docker cell needs no install in the host's agent cache).
#
#   scripts/docker-setup.sh [--no-images] [--adapter NAME ...]
#
# Idempotent: whatever is already there (engine, running daemon, images) is kept.
# scripts/docker-stop.sh stops the daemon this script started (and only that one).
# Builds may use the host network to fetch packages; cells never get a network.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

PIDFILE=${CAB_DOCKERD_PIDFILE:-/var/run/cab-dockerd.pid}
LOG=${CAB_DOCKERD_LOG:-/var/log/cab-dockerd.log}
ROOTFS_IMAGE=${CAB_ROOTFS_IMAGE:-cab/rootfs:bookworm}
SUITE=bookworm
build_images=1
adapters=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-images) build_images=0 ;;
    --adapter) adapters+=("$2"); shift ;;
    *) echo "docker-setup: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
# No --adapter: every recipe (cab/base and each real agent's image).

log() { echo "docker-setup: $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

as_root_apt() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "docker-setup: $* missing; install them as root (apt-get install $*)" >&2
    exit 1
  fi
  # Without systemd, a package's postinst would start dockerd with its defaults (a bridge
  # network, iptables rules): forbid service starts for the install unless a policy exists.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; own_policy=1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  [ "$own_policy" = 0 ] || rm -f "$policy"
}

# 1. the engine ------------------------------------------------------------------------------
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
# A registry server for `cab images push` (its tests start one on 127.0.0.1; the package's own
# service is never started: policy-rc.d forbids it during the install).
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
if [ ${#need[@]} -gt 0 ]; then
  t=$(now)
  log "installing ${need[*]}"
  as_root_apt "${need[@]}"
  log "installed ${need[*]} in $(since "$t")"
fi

# 2. the daemon ------------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  log "dockerd already running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
else
  t=$(now)
  # A pidfile left by a daemon that was killed (not by one still running) would stop dockerd.
  if [ -f "$PIDFILE" ] && ! grep -q dockerd "/proc/$(cat "$PIDFILE")/comm" 2>/dev/null; then
    rm -f "$PIDFILE"
  fi
  # overlay2 (vfs is several times slower); no bridge, no iptables: containers only ever
  # get network mode "none", and nothing here may route to private address ranges.
  (cd / && setsid dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
      --pidfile="$PIDFILE" </dev/null >>"$LOG" 2>&1 &)
  for _ in $(seq 1 300); do
    docker info >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "docker-setup: dockerd did not start; its log ($LOG) ends with:" >&2
    tail -n 20 "$LOG" >&2 || true
    exit 1
  fi
  log "dockerd $(docker version --format '{{.Server.Version}}') ready in $(since "$t") (pid $(cat "$PIDFILE"), log $LOG)"
fi

# Containers of cells a killed harness or daemon left behind (normally none).
left=$(docker ps -aq --filter label=cab.cell)
[ -z "$left" ] || { log "removing $(echo $left | wc -w) container(s) left by earlier cells"; docker rm -f $left >/dev/null; }

# 3. the root file system image: debootstrap minbase + python3, imported ----------------------
mirror() {
  # the machine's configured Debian archive (deb822 or one-line format), else Debian's default
  local uri
  uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /security/ && $2 ~ /^http/ { print $2; exit }' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
  echo "${uri:-http://deb.debian.org/debian}"
}

if docker image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1; then
  log "$ROOTFS_IMAGE present"
else
  t=$(now)
  url=$(mirror)
  dir=$(mktemp -d /var/tmp/cab-rootfs.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  log "debootstrap --variant=minbase $SUITE from $url"
  debootstrap --variant=minbase --include=python3 "$SUITE" "$dir" "$url" >"$dir.log" 2>&1 \
    || { tail -n 20 "$dir.log" >&2; exit 1; }
  rm -f "$dir.log"
  security=${url%/debian}/debian-security
  [ "$security" != "$url/debian-security" ] || security=http://deb.debian.org/debian-security
  cat > "$dir/etc/apt/sources.list" <<EOF
deb $url $SUITE main
deb $url $SUITE-updates main
deb $security $SUITE-security main
EOF
  # keep the image small: no package lists, no downloaded archives, no docs
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
         "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/*
  tar -C "$dir" -c . | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["/bin/bash"]' \
      --message "debootstrap --variant=minbase --include=python3 $SUITE $url" \
      --change "LABEL cab.recipe=rootfs" - "$ROOTFS_IMAGE" >/dev/null
  rm -rf "$dir"
  trap - EXIT
  log "$ROOTFS_IMAGE imported in $(since "$t") ($(docker image inspect -f '{{.Size}}' "$ROOTFS_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
fi

# 4. the images cells run in: cab/base (toolchains) and the agents' ----------------------------
if [ "$build_images" = 1 ]; then
  [ -x .venv/bin/cab ] || bash scripts/setup.sh
  t=$(now)
  args=()
  for a in "${adapters[@]+"${adapters[@]}"}"; do args+=(--adapter "$a"); done
  .venv/bin/cab images build --base "$ROOTFS_IMAGE" "${args[@]+"${args[@]}"}"
  log "images built in $(since "$t")"
  .venv/bin/cab images list
fi
