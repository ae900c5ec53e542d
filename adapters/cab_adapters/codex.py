"""The ``codex`` adapter: OpenAI's Codex CLI (npm ``@openai/codex``), over the OpenAI Responses protocol.

Codex reads ``$CODEX_HOME/config.toml``; the cell's gets one model provider (``cab``)
with ``base_url`` at the proxy, ``wire_api = "responses"`` and ``env_key`` naming the
variable that holds the (dummy) key, so no login is involved.  Headless it runs
``codex exec --json`` under the relay, which prints a transcript of its JSONL events
and sums the ``usage`` of each ``turn.completed`` (input tokens include the cached ones)
for the token cross-check.  Interactive mode is not offered.

Gotchas:

* The npm package is a launcher; the program is a static binary (~330 MB) in the
  optional dependency ``@openai/codex-linux-x64``, which npm installs beside it.
* Approvals and Codex's own bubblewrap sandbox are off (``approval_policy = "never"``,
  ``danger-full-access``): cab's sandbox is the boundary, and a nested one fails there.
* Offline: the ``plugins``/``remote_plugin`` features fetch a plugin list from GitHub at
  start (DNS lookups of github.com under strace), so both are off, as are the update
  check, analytics, feedback and the hosted ``web_search``; retries are bounded.
* An unknown model gets fallback metadata and an ``error`` item saying so (a ``✗`` line).
  Such a model has no file-writing tool: Codex edits through ``exec_command`` (a shell),
  and so does the scripted oracle.  It warns that it puts no helper binaries on PATH
  with its home under ``/tmp`` (the cell's); untested with a real model's ``apply_patch``.
* Stdin that is not a terminal is appended to the prompt (cab gives ``/dev/null``); the
  prompt comes after ``--``.  Requests carry per-session ids and tool outputs with a
  random ``Chunk ID`` and the ``Wall time``: all kept out of cassette hashes
  (``replay_volatile``), or a replay would miss from the second call on.

Options: ``-o context_window=N``, ``-o reasoning_effort=low|medium|high``.
"""

from __future__ import annotations

import json

from cab_core import AdapterOption, LaunchContext

from . import _agents, _base

CODEX_HOME = ".codex"
#: Codex features that reach the network by themselves.
OFF = ("plugins", "remote_plugin", "unbounded_connection_retries")


def config(ctx: LaunchContext) -> dict:
    """``$CODEX_HOME/config.toml``: the cell's model at the proxy, approvals and network extras off."""
    q = json.dumps  # a JSON string is a TOML basic string
    lines = [
        f"model = {q(ctx.model)}", 'model_provider = "cab"', 'approval_policy = "never"',
        'sandbox_mode = "danger-full-access"', "check_for_update_on_startup = false", 'web_search = "disabled"',
        f"model_context_window = {int(ctx.options.get('context_window', 128000))}",
    ]
    if ctx.options.get("reasoning_effort"):
        lines.append(f"model_reasoning_effort = {q(ctx.options['reasoning_effort'])}")
    lines += ["", "[model_providers.cab]", 'name = "cab"', f"base_url = {q(AGENT.endpoint(ctx))}",
              'wire_api = "responses"', f"env_key = {q(_base.KEY_ENV['responses'])}",
              "request_max_retries = 2", "stream_max_retries = 2", "", "[features]"]
    lines += [f"{name} = false" for name in OFF]
    lines += ["", "[analytics]", "enabled = false", "", "[feedback]", "enabled = false"]
    return {f"~/{CODEX_HOME}/config.toml": "\n".join(lines) + "\n"}


def argv(ctx: LaunchContext) -> list:
    """``codex exec --json ... -- PROMPT``."""
    return ["exec", "--json", "--skip-git-repo-check", "--ephemeral", "--dangerously-bypass-approvals-and-sandbox",
            "--color", "never", "--", ctx.task.prompt]


def render(event: dict, usage: _agents.Usage):
    """Transcript lines for one ``codex exec --json`` event (and add up its usage)."""
    kind, item = event.get("type"), event.get("item") or {}
    if kind == "turn.completed":
        counts = event.get("usage") or {}
        usage.add(int(counts.get("input_tokens") or 0), int(counts.get("output_tokens") or 0))
    elif kind in ("turn.failed", "error"):
        error = event.get("error") or {}
        yield f"{_agents.ERR_MARK}{_agents.clip(event.get('message') or error.get('message') or 'error')}"
    elif kind == "item.started" and item.get("type") == "command_execution":
        yield _agents.tool_summary("exec", {"command": item.get("command")})
    elif kind == "item.completed":
        yield from _item_lines(item)


def _item_lines(item: dict):
    kind = item.get("type")
    if kind == "agent_message" and (item.get("text") or "").strip():
        yield item["text"].rstrip()
    elif kind == "command_execution":
        mark = _agents.OK_MARK if item.get("exit_code") == 0 else _agents.ERR_MARK
        yield f"{mark}{_agents.clip(item.get('aggregated_output') or '') or 'exit ' + str(item.get('exit_code'))}"
    elif kind == "file_change":
        for change in item.get("changes") or ():
            yield _agents.tool_summary(f"patch {change.get('kind', '')}".rstrip(), {"path": change.get("path")})
    elif kind in ("mcp_tool_call", "web_search"):
        yield _agents.tool_summary(item.get("tool") or kind, item.get("arguments") or {"pattern": item.get("query")})
    elif kind == "error":
        yield f"{_agents.ERR_MARK}{_agents.clip(item.get('message') or 'error')}"


AGENT = _base.InstalledAgent(
    name="codex", package="@openai/codex", pinned="0.171.0", installer="npm",
    binary="node_modules/.bin/codex", protocol="responses", module=__name__,
    description="OpenAI Codex CLI (@openai/codex), headless codex exec --json over the Responses protocol",
    env={"NO_COLOR": "1"},
    cell_env=lambda ctx: {"CODEX_HOME": str(ctx.home / CODEX_HOME), **AGENT.key_env(ctx)},
    config=config, argv=argv, render=render, needs=["node_modules/@openai/codex-linux-*/vendor/*/bin/codex"],
    options=[_base.CONTEXT_WINDOW, AdapterOption(name="reasoning_effort", help="Codex's model_reasoning_effort")],
    # Its shell tool's output starts "Chunk ID: 8303a7\nWall time: 0.0000 seconds": random and clock.
    replay_volatile=(r"Chunk ID: [0-9A-Za-z]+", r"Wall time: [0-9.]+ seconds"),
)
run_version = AGENT.run_version
final_output, agent_tokens = AGENT.final, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
