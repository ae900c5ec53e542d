"""The ``cline`` adapter: Cline's CLI (npm ``cline``, 3.x), run headless as ``cline --json PROMPT``.

Cline 3 is a Bun-compiled binary shipped in a platform package (``@cline/cli-linux-x64``,
an optional dependency npm installs; ``bin/cline`` is a Node resolver that finds it).
The cell's model is Cline's built-in ``openai-compatible`` provider, configured the way
``cline auth -p openai-compatible -b URL`` would: ``~/.cline/data/settings/providers.json``
in the cell's private HOME names the proxy's base URL, the model and the (dummy) key, so
the key is never on the command line.

Gotchas:

* Telemetry is on by default and is sent to an OpenTelemetry collector on cline.bot:
  every start, even ``--version``, looks its name up.  ``global-settings.json`` with
  ``telemetryOptOut`` (and ``autoUpdateEnabled: false``) turns that and the update check
  off; with it a run connects only to the proxy (the strace test checks this).
* Its ``editor`` tool cannot overwrite an existing file without the exact old text, so
  the scripted oracle answers through its shell tool, ``run_commands`` (see
  :func:`cab_core.endpoint.scripted.planning.find_shell_tool`).
* ``--json`` prints one event per line: text and tool calls come as ``agent_event``
  ``content_start``/``content_end``; the last line, ``run_result``, carries the run's
  token total (``aggregateUsage``), which is the agent's own count for the cross-check.
  Its ``inputTokens`` already include cached ones (the AI SDK's convention).
* Tool auto-approval is the headless default; ``--auto-approve true`` is given anyway.
* Every model call prints AI SDK deprecation warnings with stack traces on stderr (no
  switch turns them off from outside); they stay in the recording, and
  :func:`final_output` leaves them out.
* No interactive mode: Cline's TUI (``cline -i``) is not driven.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

from cab_core import Adapter, LaunchContext, LaunchSpec, hookimpl
from cab_core.agents import npm_install
from cab_core.errors import CabError

from . import _agents

NAME = "cline"
PACKAGE = "cline"
PINNED = "3.0.65"
BIN = Path("node_modules/.bin/cline")
PROVIDER = "openai-compatible"
SETTINGS = "~/.cline/data/settings"
#: ``providers.json`` entries need a time stamp: without one Cline drops the entry's URL and key.
UPDATED_AT = "2026-01-01T00:00:00.000Z"
#: Cline's global settings in a cell: no telemetry, no auto-update.
GLOBAL_SETTINGS = {"telemetryOptOut": True, "autoUpdateEnabled": False}


def run_version() -> str:
    """The version cells run: the pin, or ``$CAB_CLINE_VERSION``."""
    return _agents.version_from_env(NAME, PINNED)


def install(version: Optional[str] = None, prefix: Optional[Path] = None, force: bool = False) -> Path:
    """Install Cline ``version`` into the agent cache; returns its folder."""
    version = version or run_version()

    def steps(prefix: Path) -> dict:
        npm_install(prefix, f"{PACKAGE}@{version}")
        scratch = prefix / ".version-check"
        settings = scratch / ".cline/data/settings"
        settings.mkdir(parents=True)
        (settings / "global-settings.json").write_text(json.dumps(GLOBAL_SETTINGS))
        _agents.check_version(NAME, version, [str(prefix / BIN), "--version"], env={"HOME": str(scratch)})
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
        return {"package": f"{PACKAGE}@{version}"}

    return _agents.install_agent(NAME, version, prefix, force, steps)


def is_installed() -> bool:
    return _agents.installed(NAME, run_version(), BIN)


def config(ctx: LaunchContext) -> dict:
    """Cline's settings files for a cell: one openai-compatible provider at the proxy, telemetry off."""
    if not ctx.base_url:
        raise CabError("the cline adapter needs a model endpoint (the recording proxy's base URL)")
    provider = {"provider": PROVIDER, "apiKey": ctx.api_key, "model": ctx.model, "baseUrl": ctx.base_url}
    providers = {"version": 1, "lastUsedProvider": PROVIDER, "modes": {},
                 "providers": {PROVIDER: {"settings": provider, "updatedAt": UPDATED_AT, "tokenSource": "manual"}}}
    return {f"{SETTINGS}/providers.json": json.dumps(providers, indent=2) + "\n",
            f"{SETTINGS}/global-settings.json": json.dumps(GLOBAL_SETTINGS, indent=2) + "\n"}


def build_launch(ctx: LaunchContext) -> LaunchSpec:
    """``cline --json -P openai-compatible -m MODEL -c WORKDIR PROMPT`` under the relay."""
    cline = _agents.require(NAME, run_version(), BIN, ctx)
    files = config(ctx)
    argv = [str(cline), "--json", "--auto-approve", "true", "-P", PROVIDER, "-m", ctx.model,
            "-c", str(ctx.workdir), ctx.task.prompt]
    env = {"CLINE_DIR": str(ctx.home / ".cline")}
    return LaunchSpec(argv=_agents.relay_argv(__name__, argv), env=env, files=files)


def render(event: dict, usage: _agents.Usage):
    """Transcript lines for one ``cline --json`` event (and the run's token total)."""
    kind = event.get("type")
    inner = event.get("event") or {}
    if kind == "agent_event" and inner.get("contentType") == "text" and inner.get("type") == "content_end":
        if (inner.get("text") or "").strip():
            yield inner["text"].rstrip()
    elif kind == "agent_event" and inner.get("contentType") == "tool" and inner.get("type") == "content_start":
        args = inner.get("input")
        if isinstance(args, dict) and isinstance(args.get("commands"), list) and args["commands"]:
            args = {"command": str(args["commands"][0])}
        yield _agents.tool_summary(inner.get("toolName", "?"), args)
    elif kind == "agent_event" and inner.get("contentType") == "tool" and inner.get("type") == "content_end":
        results = inner.get("output") if isinstance(inner.get("output"), list) else [inner.get("output")]
        failed = inner.get("error") or any(isinstance(r, dict) and r.get("success") is False for r in results)
        text = inner.get("error") or "; ".join(str(r.get("result") or r.get("error") or "") if isinstance(r, dict)
                                                else str(r or "") for r in results)
        yield f"{_agents.ERR_MARK if failed else _agents.OK_MARK}{_agents.clip(str(text)) or ('failed' if failed else 'done')}"
    elif kind == "run_result":
        total = event.get("aggregateUsage") or event.get("usage") or {}
        usage.add(total.get("inputTokens") or 0, total.get("outputTokens") or 0)
        if event.get("finishReason") not in (None, "completed"):
            yield f"{_agents.ERR_MARK}run ended: {event.get('finishReason')} {_agents.clip(str(event.get('error') or ''))}".rstrip()


#: The AI SDK's warnings Cline prints to stderr on every call (a stack trace each).
_SDK_WARNING = re.compile(r"^\w*Warning: AI SDK .*\n(?:[ \t]+at .*\n)*\n?", re.MULTILINE)


def final_output(output: str) -> str:
    """Cline's last words: the transcript after its last tool call, without the AI SDK's warnings."""
    output = _SDK_WARNING.sub("", _agents.strip_ansi(output))
    return _agents.transcript_final(output) or output[-2000:].strip()


def agent_tokens(output: str) -> Optional[dict]:
    return _agents.reported_usage(output)


@hookimpl
def cab_adapters():
    return [
        Adapter(name=NAME, build_launch=build_launch, version=run_version(), image=f"cab/{NAME}:{run_version()}",
                description=f"Cline CLI ({PACKAGE}) as 'cline --json', telemetry off", final_output=final_output,
                agent_tokens=agent_tokens, install=install, is_installed=is_installed,
                mounts=_agents.install_mounts(NAME, run_version))
    ]


if __name__ == "__main__":
    _agents.relay_entry(NAME, render)
