#!/usr/bin/env bash
# The browser the report tests drive: Debian's chromium (/usr/bin/chromium) and the playwright
# Python package that talks to it.  No `playwright install`: the tests launch the system
# chromium with executable_path, so nothing is downloaded from Playwright's CDN.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: installing chromium with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "install-browser: chromium is missing; install it as root: apt-get install -y chromium" >&2
    exit 1
  fi
fi
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import playwright" 2>/dev/null; then
  .venv/bin/python -m pip install -q playwright
fi
echo "install-browser: ok ($(/usr/bin/chromium --version 2>/dev/null | head -1))"
