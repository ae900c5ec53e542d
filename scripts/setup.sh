#!/usr/bin/env bash
# Set up cab from nothing: system packages (as root, via apt), a virtual environment
# with the core and the three built-in plugin distributions, and the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
need_apt=()
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v git >/dev/null 2>&1 || need_apt+=(git)
# Toolchains of the built-in and sample tasks: C (gcc, make, cmake) and Go (Exercism's go track).
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need_apt[*]} with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: warning: ${need_apt[*]} missing (install bubblewrap for the isolated local sandbox)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.cab-installed
# The example plugins (examples/*/) are installed too: their tests run with the suite.
examples=()
for project in examples/*/pyproject.toml; do
  if [ -f "$project" ]; then examples+=(-e "./$(dirname "$project")"); fi
done
stale=0
for project in pyproject.toml adapters/pyproject.toml scorers/pyproject.toml tasks/pyproject.toml \
               exporters/otel/pyproject.toml examples/*/pyproject.toml; do
  if [ -f "$project" ] && [ "$project" -nt "$stamp" ]; then stale=1; fi
done
if [ ! -f "$stamp" ] || [ "$stale" = 1 ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]' -e ./adapters -e ./scorers -e ./tasks -e ./exporters/otel "${examples[@]}"
  touch "$stamp"
fi
# Byte-compile cab's own sources (installed editable, so pip did not): with
# PYTHONDONTWRITEBYTECODE set, as on many CI machines, every `cab` start would
# otherwise compile them again (issue 16: a second of start-up on a loaded machine).
# Tasks' own files (a suite's workspace/ and solution/ folders) are data, never compiled;
# cab_core/workspace/ is code (a bare "/workspace/" left its eleven modules compiled at every start).
# The example plugins are installed too (every `cab` loads them): compiled as well.
.venv/bin/python -m compileall -q -j 0 -x "/suite/|(?<!cab_core)/workspace/|/solution/" cab_core adapters/cab_adapters \
  scorers/cab_scorers tasks/cab_tasks exporters/otel examples/*/ >/dev/null || true
echo "setup: ok ($(.venv/bin/cab --version))"
