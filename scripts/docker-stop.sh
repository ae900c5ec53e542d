#!/usr/bin/env bash
# Stop the dockerd that scripts/docker-setup.sh started (a daemon started any other way is
# left alone), after removing any container a cell left behind (label cab.cell).
set -uo pipefail
PIDFILE=${CAB_DOCKERD_PIDFILE:-/var/run/cab-dockerd.pid}

[ -f "$PIDFILE" ] || { echo "docker-stop: no $PIDFILE: nothing started by docker-setup.sh"; exit 0; }
pid=$(cat "$PIDFILE")
if ! kill -0 "$pid" 2>/dev/null; then
  rm -f "$PIDFILE"
  echo "docker-stop: dockerd (pid $pid) is not running"
  exit 0
fi
left=$(docker ps -aq --filter label=cab.cell 2>/dev/null)
[ -z "$left" ] || docker rm -f $left >/dev/null 2>&1
kill -TERM "$pid"
for _ in $(seq 1 150); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "docker-stop: dockerd (pid $pid) still running after 15 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null
fi
rm -f "$PIDFILE"
echo "docker-stop: dockerd (pid $pid) stopped"
