"""The ``pi`` adapter: Mario Zechner's pi coding agent (npm ``@mariozechner/pi-coding-agent``).

pi reads custom providers from ``$PI_CODING_AGENT_DIR/models.json``; the cell gets
one provider (``cab``, or ``-o provider=NAME``) whose only model is the cell's model,
served at the recording proxy.  Headless, it runs ``pi --print --mode json`` under
the relay (see :mod:`cab_adapters._agents`): the terminal shows a readable
transcript, and pi's own per-message ``usage`` is summed for the token cross-check.
``--mode interactive`` drives pi's TUI instead: it waits for the editor, types the
task, waits until pi is idle and quits with ``/quit``.

Options: ``-o provider=NAME`` (e.g. ``nim`` with ``-m openai/gpt-oss-120b``),
``-o context_window=N``, ``-o max_tokens=N``, ``-o reasoning=true`` (the model thinks),
``-o idle_seconds=S`` (interactive: quiet time that means pi is done, default 3).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Optional

from cab_core import Adapter, AdapterOption, LaunchContext, LaunchSpec, hookimpl
from cab_core.agents import npm_install
from cab_core.errors import CabError

from . import _agents

NAME = "pi"
PACKAGE = "@mariozechner/pi-coding-agent"
PINNED = "0.73.1"
BIN = Path("node_modules/.bin/pi")
AGENT_DIR = ".pi/agent"
#: No changelog, tips or install ping on start: the recording shows the task, not pi's news.
SETTINGS = {"quietStartup": True, "collapseChangelog": True, "enableInstallTelemetry": False}


def run_version() -> str:
    """The version cells run: the pin, or ``$CAB_PI_VERSION``."""
    return _agents.version_from_env(NAME, PINNED)


def install(version: Optional[str] = None, prefix: Optional[Path] = None, force: bool = False) -> Path:
    """Install pi ``version`` (default: the one cells run) into the agent cache; returns its folder."""
    version = version or run_version()

    def steps(prefix: Path) -> dict:
        npm_install(prefix, f"{PACKAGE}@{version}")
        scratch = prefix / ".version-check"
        _agents.check_version(NAME, version, [str(prefix / BIN), "--version"],
                              env={"PI_CODING_AGENT_DIR": str(scratch), "PI_OFFLINE": "1", "PI_TELEMETRY": "0"})
        shutil.rmtree(scratch, ignore_errors=True)
        return {"package": f"{PACKAGE}@{version}"}

    return _agents.install_agent(NAME, version, prefix, force, steps)


def is_installed() -> bool:
    """Whether the version cells run is in the agent cache."""
    return _agents.installed(NAME, run_version(), BIN)


def _models_json(ctx: LaunchContext, provider: str) -> str:
    if not ctx.base_url:
        raise CabError("the pi adapter needs a model endpoint (the recording proxy's base URL)")
    model = {
        "id": ctx.model,
        "name": ctx.model,
        "reasoning": ctx.options.get("reasoning", "false").lower() in ("1", "true", "yes"),
        "input": ["text"],
        "contextWindow": int(ctx.options.get("context_window", 128000)),
        "maxTokens": int(ctx.options.get("max_tokens", 16000)),
        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
    }
    providers = {provider: {"baseUrl": ctx.base_url, "api": "openai-completions", "apiKey": ctx.api_key, "models": [model]}}
    return json.dumps({"providers": providers}, indent=2) + "\n"


def build_launch(ctx: LaunchContext) -> LaunchSpec:
    """``pi --print --mode json`` (under the relay) against one provider pointing at the proxy."""
    pi = _agents.require(NAME, run_version(), BIN, ctx)
    provider = ctx.options.get("provider", "cab")
    files = {
        f"~/{AGENT_DIR}/models.json": _models_json(ctx, provider),
        f"~/{AGENT_DIR}/settings.json": json.dumps(SETTINGS) + "\n",
    }
    env = {"PI_CODING_AGENT_DIR": str(ctx.home / AGENT_DIR), "PI_OFFLINE": "1", "PI_TELEMETRY": "0"}
    common = ["--no-session", "--offline", "--provider", provider, "--model", ctx.model]
    if ctx.mode == "interactive":
        return LaunchSpec(argv=[str(pi), *common], env=env, files=files)
    argv = [str(pi), "--print", "--mode", "json", *common, ctx.task.prompt]
    return LaunchSpec(argv=_agents.relay_argv(__name__, argv), env=env, files=files)


# --------------------------------------------------------------------------- reading pi's events


def render(event: dict, usage: _agents.Usage):
    """Transcript lines for one ``pi --mode json`` event (and add up its usage)."""
    kind = event.get("type")
    if kind == "message_end":
        message = event.get("message") or {}
        if message.get("role") != "assistant":
            return
        counts = message.get("usage") or {}
        if counts:
            prompt = sum(int(counts.get(k) or 0) for k in ("input", "cacheRead", "cacheWrite"))
            usage.add(prompt, int(counts.get("output") or 0))
        for part in message.get("content") or ():
            if part.get("type") == "text" and part.get("text", "").strip():
                yield part["text"].rstrip()
            elif part.get("type") == "toolCall":
                yield _agents.tool_summary(part.get("name", "?"), part.get("arguments"))
        if message.get("stopReason") == "error" or message.get("errorMessage"):
            yield f"{_agents.ERR_MARK}model error: {_agents.clip(message.get('errorMessage') or 'unknown')}"
    elif kind == "tool_execution_end":
        result = event.get("result") or {}
        text = "\n".join(p.get("text", "") for p in result.get("content") or () if isinstance(p, dict))
        mark = _agents.ERR_MARK if event.get("isError") else _agents.OK_MARK
        yield f"{mark}{_agents.clip(text) or event.get('toolName', '')}"


def final_output(output: str) -> str:
    """pi's final answer: the transcript's text after its last tool call (the TUI's tail, interactively)."""
    return _agents.transcript_final(output) or _agents.strip_ansi(output)[-2000:].strip()


def agent_tokens(output: str) -> Optional[dict]:
    """pi's own token count (summed ``usage`` of its assistant messages), from the relay's last line."""
    return _agents.reported_usage(output)


# --------------------------------------------------------------------------- interactive mode


def screen_answer(screen) -> str:
    """pi's last answer on its TUI: the default-background text above the editor.

    pi draws the user's messages and tool calls in coloured boxes, the assistant's text on
    the terminal's own background, and the editor between two rules (``────``) above its
    footer.  ``screen`` is a ``pyte.HistoryScreen``: lines scrolled off the top count too.
    """
    width = screen.columns
    rows = [*screen.history.top, *(screen.buffer[y] for y in range(screen.lines))]

    def text(row) -> str:
        return "".join(row[x].data for x in range(width)).rstrip()

    def plain(row) -> bool:
        return all(row[x].bg == "default" for x in range(width))

    rules = [i for i, row in enumerate(rows) if text(row) and set(text(row)) == {"─"}]
    if len(rules) < 2:
        return ""
    end = rules[-2]
    start = end
    while start > 0 and plain(rows[start - 1]) and not (text(rows[start - 1]) and set(text(rows[start - 1])) == {"─"}):
        start -= 1
    lines = [text(row) for row in rows[start:end]]
    return "\n".join(line[1:] if line.startswith(" ") else line for line in lines).strip()


def interactive(child, cast, ctx: LaunchContext) -> None:
    """Drive pi's TUI: wait for the editor, type the task, wait until idle, keep the answer, ``/quit``."""
    import pyte

    screen = pyte.HistoryScreen(child.getwinsize()[1], child.getwinsize()[0], history=5000)
    stream = pyte.ByteStream(screen)
    recorder = _agents.CastRecorder(cast)

    class Tee:
        def write(self, data: bytes) -> None:
            recorder.write(data)
            stream.feed(data)

        def flush(self) -> None:
            pass

    def shown() -> str:
        return "\n".join(screen.display)

    quiet = float(ctx.options.get("idle_seconds", 3))
    limit = time.monotonic() + float(ctx.options.get("interactive_timeout", 540))
    child.logfile_read = Tee()
    try:
        # The editor is ready once pi has drawn its footer with the model name (a slow
        # start still gets the task typed: the runner's timeout is the backstop).
        _agents.wait_for(child, lambda: ctx.model in shown(), deadline=time.monotonic() + 60)
        _agents.read_until_quiet(child, quiet=1.0, deadline=time.monotonic() + 30)
        # Bracketed paste, so newlines in the task stay in the message instead of sending it.
        _agents.type_text(child, cast, "\x1b[200~" + ctx.task.prompt + "\x1b[201~")
        _agents.read_until_quiet(child, quiet=0.5, deadline=time.monotonic() + 10)
        _agents.type_text(child, cast, "\r")
        _agents.wait_for(child, lambda: "Working" in shown(), deadline=time.monotonic() + 10)
        if _agents.read_until_quiet(child, quiet=quiet, deadline=limit, until=lambda: "Working" not in shown()):
            _agents.give_answer(cast, screen_answer(screen))
        _agents.quit_tui(child, cast, "/quit")
    finally:
        child.logfile_read = None


@hookimpl
def cab_adapters():
    return [
        Adapter(
            name=NAME,
            build_launch=build_launch,
            version=run_version(),
            image=f"cab/{NAME}:{run_version()}",  # built by 'cab images build --adapter pi'
            description=f"pi coding agent ({PACKAGE}), headless --print --mode json or its TUI",
            final_output=final_output,
            agent_tokens=agent_tokens,
            install=install,
            is_installed=is_installed,
            mounts=_agents.install_mounts(NAME, run_version),
            interactive=interactive,
            options=[AdapterOption(name="context_window", type="int", default=128000, help="the model's context window in tokens"), AdapterOption(name="max_tokens", type="int", default=16000, help="the most tokens one reply may have"), AdapterOption(name="provider", default="cab", help="the provider name the agent's config uses (e.g. nim)"),
                     AdapterOption(name="reasoning", type="bool", default=False, help="mark the model as a reasoning model"),
                     AdapterOption(name="idle_seconds", type="float", default=3, help="interactive mode: seconds of quiet that end a turn"), AdapterOption(name="interactive_timeout", type="float", default=540, help="interactive mode: seconds before giving up")],
        )
    ]


if __name__ == "__main__":
    _agents.relay_entry(NAME, render)
