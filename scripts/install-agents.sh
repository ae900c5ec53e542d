#!/usr/bin/env bash
# Install every agent cab drives (`cab agents list`) at its pinned version into the
# agent cache ($CAB_AGENTS_DIR, default ~/.cache/cab/agents).  Idempotent: whatever is
# installed already is skipped, so setup can call this every time.  This is the only
# step that reaches the registries (npm, PyPI); cells run offline from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/cab ]; then
  echo "install-agents: .venv/bin/cab is missing; run scripts/setup.sh first" >&2
  exit 1
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-agents: $tool is missing (pi and opencode need Node.js >= 20 with npm)" >&2
    exit 1
  fi
done

# Best effort, as root: ripgrep, which opencode's grep and glob tools take from PATH
# (otherwise they try to download it from GitHub at run time, which the sandbox
# blocks), and strace, with which tests/test_agents.py shows that an agent connects
# to nothing but the proxy.
missing=()
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
command -v strace >/dev/null 2>&1 || missing+=(strace)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-agents: installing ${missing[*]} with apt-get"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; }; } \
    || echo "install-agents: warning: could not install ${missing[*]}" >&2
fi

.venv/bin/cab agents install all
.venv/bin/cab agents list
