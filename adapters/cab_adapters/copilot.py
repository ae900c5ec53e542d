"""The ``copilot`` adapter: GitHub Copilot CLI (npm ``@github/copilot``), run as ``copilot -p PROMPT``.

No GitHub login: Copilot CLI's own "bring your own key" mode points it at any OpenAI
Chat Completions endpoint through ``COPILOT_PROVIDER_BASE_URL``/``_TYPE``/``_API_KEY`` and
``COPILOT_MODEL``; with such a provider ``COPILOT_OFFLINE=true`` skips all other network
access (GitHub auth, telemetry, web tools, the GitHub MCP server, auto-update), so a run
connects only to the proxy (the strace test checks this).  Without it every start looks
up api.github.com.

Gotchas:

* The npm package's platform binary (``@github/copilot-linux-x64``) unpacks its own
  235 MB application into ``~/.cache/copilot/pkg`` on first start (about 10 s).  The
  install step unpacks it once into the agent cache (``seed/``, by ``--version``) and
  each cell's HOME links to it.
* Headless needs ``--allow-all-tools``; ``--output-format json`` prints one event per line
  (``assistant.message``, ``tool.execution_start``/``_complete``, ``session.error``,
  ``result``).  None of them carries a token count, so there is no cross-check.
* Its ``create`` tool refuses an existing path and ``edit`` needs the exact old text, so
  the scripted oracle answers through its ``bash`` tool (see
  :func:`cab_core.endpoint.scripted.planning.find_shell_tool`).
* State (config, session store, logs) goes to ``COPILOT_HOME``, in the cell's HOME.
* No interactive mode: its TUI is not driven.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from cab_core import LaunchContext
from cab_core.agents import InstallError

from . import _agents, _base

BINARY = Path("node_modules/.bin/copilot")
#: A HOME whose ~/.cache/copilot/pkg the install step fills; cells link to it.
SEED = Path("seed")
PKG = Path(".cache/copilot/pkg")
ENV = {"COPILOT_OFFLINE": "true", "COPILOT_AUTO_UPDATE": "false", "COPILOT_PROVIDER_TYPE": "openai"}


def unpack(prefix: Path, version: str) -> dict:
    """Let Copilot unpack its application once, into ``seed/.cache/copilot/pkg`` of the install."""
    home = prefix / SEED
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), **ENV}
    done = subprocess.run([str(prefix / BINARY), "--version"], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not (home / PKG).is_dir():
        raise InstallError(f"copilot {version} did not unpack its application: {(done.stderr or done.stdout).strip()[-300:]}")
    return {"unpacked": str(SEED / PKG)}


def cell_env(ctx: LaunchContext) -> dict:
    return {"COPILOT_PROVIDER_BASE_URL": AGENT.endpoint(ctx), "COPILOT_PROVIDER_API_KEY": ctx.api_key,
            "COPILOT_MODEL": ctx.model, "COPILOT_HOME": str(ctx.home / ".copilot")}


def argv(ctx: LaunchContext) -> list:
    """``-p PROMPT --allow-all-tools --output-format json -C WORKDIR`` (under the relay)."""
    return ["-p", ctx.task.prompt, "--allow-all-tools", "--output-format", "json", "--no-auto-update",
            "-C", str(ctx.workdir)]


def render(event: dict, usage: _agents.Usage):
    """Transcript lines for one ``copilot --output-format json`` event."""
    kind, data = event.get("type"), event.get("data") or {}
    if kind == "assistant.message" and (data.get("content") or "").strip():
        yield data["content"].rstrip()
    elif kind == "tool.execution_start":
        yield _agents.tool_summary(data.get("toolName", "?"), data.get("arguments"))
    elif kind == "tool.execution_complete":
        result = data.get("result") or {}
        text = (data.get("error") or {}).get("message") if not data.get("success") else result.get("content")
        mark = _agents.OK_MARK if data.get("success") else _agents.ERR_MARK
        yield f"{mark}{_agents.clip(str(text or '')) or ('done' if data.get('success') else 'failed')}"
    elif kind == "session.error":
        yield f"{_agents.ERR_MARK}error: {_agents.clip(str(data.get('message') or data))}"


AGENT = _base.InstalledAgent(
    name="copilot", package="@github/copilot", pinned="1.0.102", installer="npm", binary=BINARY, protocol="chat",
    module=__name__, description="GitHub Copilot CLI (@github/copilot) as 'copilot -p', own key, offline",
    env=ENV, cell_env=cell_env, argv=argv, render=render, tokens=lambda output: None,
    more_install=unpack, needs=[SEED / PKG],
    links=lambda ctx, prefix: [(prefix / SEED / PKG, ctx.home / PKG)],
    # Its system prompt names a fresh session folder per run ("session-state/<uuid>"): not in replay hashes.
    replay_volatile=(r"session-state/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",),
)
run_version, final_output = AGENT.run_version, AGENT.final


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
