#!/usr/bin/env bash
# Set up everything the full test suite needs, from nothing, then run it: the README's
# `make test` and CI's .ci/run both come here.
#   1. scripts/setup.sh          venv, cab and its plugins, bubblewrap
#   2. scripts/install-agents.sh pi, aider, opencode at their pinned versions (cache)
#   3. scripts/install-browser.sh Debian's chromium for the report tests
#   4. scripts/docker-setup.sh   docker engine, base and agent images (stopped on exit)
#   5. pytest, everything (real agents, docker and browser tests included)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo; echo "== $* ($(date +%H:%M:%S))"; }

step setup
bash scripts/setup.sh
for script in install-agents install-browser docker-setup; do
  if [ -f "scripts/$script.sh" ]; then
    step "$script"
    bash "scripts/$script.sh"
  fi
done
if [ -f scripts/docker-stop.sh ]; then
  trap 'bash scripts/docker-stop.sh >/dev/null 2>&1 || true' EXIT
fi

step "pytest ${*:-}"
.venv/bin/python -m pytest -q --durations=30 "$@"
