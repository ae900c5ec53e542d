"""The ``aider`` adapter: Paul Gauthier's aider (PyPI ``aider-chat``), in a virtual environment of its own.

aider talks to the recording proxy as an OpenAI-compatible endpoint: the model is
``openai/<model>``, which litellm sends upstream as exactly ``<model>``.  The task's
``expected_changes`` files are added to the chat, so the model sees them (aider has
no tools: the scripted oracle answers it with SEARCH/REPLACE or whole-file edits).

Offline on purpose: aider downloads litellm's model price list at start unless a copy
younger than a day is in ``~/.aider/caches``, so each cell gets a fresh copy of the
one litellm bundles (``LITELLM_LOCAL_MODEL_COST_MAP`` keeps litellm itself from
fetching it); no update check, no analytics, no URL scraping.  Its history files go
to the private HOME, not the work directory, so they never count as changes.

aider prints ``Tokens: 1.2k sent, 300 received.``, rounded; the exact numbers are in
its local analytics log (``--analytics-log``; nothing is sent anywhere), which the
wrapper (``python -m cab_adapters.aider run``) sums into one last line after aider
exits, for the cross-check against the proxy.  aider exits 0 even when every model
call failed; the proxy's record makes such a cell an infrastructure error.

Options: ``-o edit_format=diff|whole|...``, ``-o context_window=N``, ``-o max_tokens=N``,
``-o idle_seconds=S`` (interactive: quiet time after the answer, default 2).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from cab_core import Adapter, AdapterOption, LaunchContext, LaunchSpec, hookimpl
from cab_core.agents import venv_install
from cab_core.errors import CabError
from cab_core.globs import match_any
from cab_core.tasks import list_files

from . import _agents

NAME = "aider"
PACKAGE = "aider-chat"
PINNED = "0.86.2"
BIN = Path("bin/aider")
STATE = ".cab-aider"
PRICES = ".aider/caches/model_prices_and_context_window.json"
ANALYTICS = f"{STATE}/analytics.jsonl"


def run_version() -> str:
    """The version cells run: the pin, or ``$CAB_AIDER_VERSION``."""
    return _agents.version_from_env(NAME, PINNED)


def install(version: Optional[str] = None, prefix: Optional[Path] = None, force: bool = False) -> Path:
    """Install aider ``version`` into a virtual environment in the agent cache; returns its folder."""
    version = version or run_version()

    def steps(prefix: Path) -> dict:
        venv_install(prefix, f"{PACKAGE}=={version}")
        _agents.check_version(NAME, version, [str(prefix / BIN), "--version"], env={"HOME": str(prefix)})
        if _price_list(prefix) is None:
            raise CabError(f"aider {version} installed, but litellm's bundled price list is missing from {prefix}")
        return {"package": f"{PACKAGE}=={version}"}

    return _agents.install_agent(NAME, version, prefix, force, steps)


def is_installed() -> bool:
    """Whether the version cells run is in the agent cache."""
    return _agents.installed(NAME, run_version(), BIN)


def _price_list(prefix: Path) -> Optional[Path]:
    found = sorted(prefix.glob("lib/python*/site-packages/litellm/model_prices_and_context_window_backup.json"))
    return found[0] if found else None


def chat_files(ctx: LaunchContext) -> list[str]:
    """The work directory's files matching the task's expected changes: the ones aider edits."""
    return [p for p in list_files(ctx.workdir) if match_any(p, ctx.task.expected_changes)]


def build_launch(ctx: LaunchContext) -> LaunchSpec:
    """``aider --message PROMPT FILES`` (interactive: without ``--message``) against the proxy."""
    aider = _agents.require(NAME, run_version(), BIN, ctx)
    if not ctx.agent_from_image and _price_list(aider.parent.parent) is None:
        raise CabError("aider is installed without litellm's price list: run 'cab agents install aider --force'")
    if not ctx.base_url:
        raise CabError("the aider adapter needs a model endpoint (the recording proxy's base URL)")
    model = f"openai/{ctx.model}"
    metadata = {model: {"max_tokens": int(ctx.options.get("max_tokens", 16000)),
                        "max_input_tokens": int(ctx.options.get("context_window", 128000)),
                        "max_output_tokens": int(ctx.options.get("max_tokens", 16000)),
                        "input_cost_per_token": 0, "output_cost_per_token": 0,
                        "litellm_provider": "openai", "mode": "chat"}}
    files = {f"~/{STATE}/model-metadata.json": json.dumps(metadata, indent=2) + "\n"}
    home = ctx.home
    argv = [
        str(aider), "--model", model, "--openai-api-base", ctx.base_url,
        "--model-metadata-file", str(home / STATE / "model-metadata.json"),
        "--no-stream", "--yes-always", "--no-check-update", "--no-analytics", "--no-auto-commits",
        "--no-dirty-commits", "--no-gitignore", "--no-pretty", "--no-fancy-input", "--no-show-model-warnings",
        "--no-show-release-notes", "--no-detect-urls", "--no-notifications", "--map-tokens", "0",
        "--input-history-file", str(home / STATE / "input.history"),
        "--chat-history-file", str(home / STATE / "chat.history.md"),
        "--analytics-log", str(home / ANALYTICS),
    ]
    if ctx.options.get("edit_format"):
        argv += ["--edit-format", ctx.options["edit_format"]]
    if ctx.mode != "interactive":
        argv += ["--message", ctx.task.prompt]
    argv += chat_files(ctx)
    env = {"OPENAI_API_KEY": ctx.api_key, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIDER_CHECK_UPDATE": "false"}
    # The price list is copied from the install inside the sandbox (under docker it is in the image only).
    wrapped = [sys.executable, "-I", "-m", __name__, "run", "--analytics-log", str(home / ANALYTICS),
               "--prices-from", str(aider.parent.parent), "--prices-to", str(home / PRICES), "--", *argv]
    return LaunchSpec(argv=wrapped, env=env, files=files)


def usage_from_analytics(path: Path) -> _agents.Usage:
    """aider's own exact token counts: its ``message_send`` events, summed."""
    usage = _agents.Usage()
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return usage
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "message_send":
            props = event.get("properties") or {}
            usage.add(props.get("prompt_tokens") or 0, props.get("completion_tokens") or 0)
    return usage


def main(args: list[str]) -> int:
    """``run --analytics-log FILE [--prices-from PREFIX --prices-to COPY] -- ARGV``: run aider, print its token count.

    ``--prices-from`` names aider's install: litellm's bundled price list there is copied to
    ``--prices-to`` (aider's cache, so it does not download one) before aider starts.
    """
    flags: dict[str, str] = {}
    rest = args[1:] if args[:1] == ["run"] else []
    while len(rest) > 1 and rest[0] in ("--analytics-log", "--prices-from", "--prices-to"):
        flags[rest[0]] = rest[1]
        rest = rest[2:]
    if "--analytics-log" not in flags or not rest or rest[0] != "--" or len(rest) < 2:
        print("usage: python -m cab_adapters.aider run --analytics-log FILE [--prices-from PREFIX --prices-to COPY] -- ARGV",
              file=sys.stderr)
        return 2
    log = Path(flags["--analytics-log"])
    if "--prices-from" in flags and "--prices-to" in flags:
        prices = _price_list(Path(flags["--prices-from"]))
        copies = [(prices, Path(flags["--prices-to"]))] if prices else []
        problem = _agents.prepare_home((), copies) if prices else "[cab] litellm's price list is not in aider's install"
        if problem:
            print(problem, flush=True)
    argv = rest[1:]
    try:
        code = subprocess.call(argv)
    except OSError as exc:
        print(f"cannot start {argv[0]}: {exc}", file=sys.stderr)
        return 127
    usage = usage_from_analytics(log)
    if usage.reports:
        print(usage.line(NAME), flush=True)
    return code if code >= 0 else 128 - code


def final_output(output: str) -> str:
    """aider's last reply: what it printed after the last ``Tokens:`` report's reply, without the edits' echo."""
    text = _agents.strip_ansi(output)
    lines = [line for line in text.splitlines() if not line.startswith("[cab] ")]
    # The reply sits between the model line ("Added ... to the chat.") and the usage report.
    end = max((i for i, line in enumerate(lines) if line.startswith("Tokens: ")), default=len(lines))
    start = max((i for i, line in enumerate(lines[:end]) if line.startswith(("Added ", "Repo-map:", "Tokens: "))),
                default=-1)
    return "\n".join(lines[start + 1:end]).strip() or text[-2000:]


def agent_tokens(output: str) -> Optional[dict]:
    """aider's own token count (from its analytics log, printed by the wrapper)."""
    return _agents.reported_usage(output)


# --------------------------------------------------------------------------- interactive mode


def interactive(child, cast, ctx: LaunchContext) -> None:
    """Drive aider's prompt: wait for ``>``, type the task, wait for the next ``>``, keep the answer, ``/exit``."""
    recorder = _agents.CastRecorder(cast)
    child.logfile_read = recorder
    quiet = float(ctx.options.get("idle_seconds", 2))
    limit = time.monotonic() + float(ctx.options.get("interactive_timeout", 540))

    def prompts() -> int:
        return recorder.text().count("\n> ")

    try:
        _agents.wait_for(child, lambda: prompts() >= 1, deadline=time.monotonic() + 120)
        # aider reads one line: newlines in the task would send it in pieces.
        _agents.type_text(child, cast, " ".join(ctx.task.prompt.split()) + "\r")
        typed_at = len(recorder.seen)
        if _agents.read_until_quiet(child, quiet=quiet, deadline=limit, until=lambda: prompts() >= 2):
            reply = _agents.strip_ansi(recorder.seen[typed_at:].decode("utf-8", errors="replace"))
            _agents.give_answer(cast, final_output(reply.rsplit("\n> ", 1)[0]))
        _agents.quit_tui(child, cast, "/exit")
    finally:
        child.logfile_read = None


@hookimpl
def cab_adapters():
    return [
        Adapter(
            name=NAME,
            build_launch=build_launch,
            version=run_version(),
            image=f"cab/{NAME}:{run_version()}",  # built by 'cab images build --adapter aider'
            description=f"aider ({PACKAGE}) with --message and the task's files, or its prompt interactively",
            final_output=final_output,
            agent_tokens=agent_tokens,
            install=install,
            is_installed=is_installed,
            mounts=_agents.install_mounts(NAME, run_version),
            interactive=interactive,
            options=[AdapterOption(name="context_window", type="int", default=128000, help="the model's context window in tokens"), AdapterOption(name="max_tokens", type="int", default=16000, help="the most tokens one reply may have"),
                     AdapterOption(name="edit_format", help="aider's --edit-format (whole, diff, ...)"),
                     AdapterOption(name="idle_seconds", type="float", default=2, help="interactive mode: seconds of quiet that end a turn"), AdapterOption(name="interactive_timeout", type="float", default=540, help="interactive mode: seconds before giving up")],
        )
    ]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
