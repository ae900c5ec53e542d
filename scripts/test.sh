#!/usr/bin/env bash
# Set up everything the full test suite needs, from nothing, then run it: the README's
# `make test` and CI's .ci/run both come here.
#   1. scripts/setup.sh            venv, cab and its plugins, bubblewrap
#   2. scripts/docker-setup.sh     docker engine and daemon (stopped on exit); then, in the
#                                  background, the base and every agent's image
#   3. scripts/install-agents.sh   every agent at its pinned version (cache), meanwhile
#   4. scripts/install-browser.sh  Debian's chromium for the report tests, meanwhile
#   5. pytest, everything (real agents, docker and browser tests included)
# The image builds and the agent installs both wait mostly on the registries, so they
# overlap; every apt-get runs in the foreground, one at a time (dpkg takes one lock).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo; echo "== $* ($(date +%H:%M:%S))"; }

step setup
bash scripts/setup.sh

images_pid=
images_log=$(mktemp -t cab-images.XXXXXX)
if [ -f scripts/docker-setup.sh ]; then
  step "docker-setup --no-images"
  bash scripts/docker-setup.sh --no-images
  trap 'bash scripts/docker-stop.sh >/dev/null 2>&1 || true; rm -f "$images_log"' EXIT
  step "docker images (in the background; log follows when done)"
  bash scripts/docker-setup.sh >"$images_log" 2>&1 &
  images_pid=$!
fi
for script in install-agents install-browser; do
  if [ -f "scripts/$script.sh" ]; then
    step "$script"
    bash "scripts/$script.sh"
  fi
done
if [ -n "$images_pid" ]; then
  step "waiting for the docker images"
  status=0
  wait "$images_pid" || status=$?
  cat "$images_log"
  [ "$status" = 0 ] || { echo "test.sh: building the docker images failed (exit $status)" >&2; exit "$status"; }
fi

step "pytest ${*:-}"
.venv/bin/python -m pytest -q --durations=30 "$@"
