"""Bring-your-own-endpoint wiring: an agent's own launch as a shell script for the user's endpoint and key.

``cab agents wiring ADAPTER`` and every cell page ("Explore with your own model") show
how to run the agent by itself, outside the harness: its command line, its environment
and the config files it reads, exactly as the adapter builds them for a cell (the
adapter's ``wiring(ctx)``, never a hand-written copy), with the recording proxy replaced
by the user's endpoint and the key by ``$VAR``.  The adapter is asked for its launch
with placeholders for HOME, the work directory, the endpoint's key and (without a task)
the prompt; this module turns the placeholders into shell variables and quotes the rest,
so no value is ever expanded by the shell except those variables.  The real key never
enters the script: the adapter only ever sees the placeholder.
"""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path
from typing import Optional

from .agents import agents_dir
from .errors import CabError
from .models import Adapter, LaunchContext, Task

HOME = "/cab-wiring/home"
KEY = "cab-wiring-key-placeholder"
PROMPT = "cab-wiring-prompt-placeholder"
MODEL = "cab-wiring-model-placeholder"
ENDPOINT = "http://cab-wiring-endpoint-placeholder"
_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _subs(key_var: str, workdir: str) -> list[tuple[str, str]]:
    return [(HOME, "${AGENT_HOME}"), (str(agents_dir()), "${CAB_AGENTS_DIR}"), (workdir, "${PWD}"),
            (KEY, "${" + key_var + "}"), (PROMPT, "${PROMPT}"), (MODEL, "${MODEL}"), (ENDPOINT, "${ENDPOINT}")]


def _escape(text: str, subs, extra: str) -> str:
    """``text`` with ``\\``, ``$``, `````` and ``extra`` escaped, then the placeholders as ``${VAR}``."""
    out = text.replace("\\", "\\\\").replace("$", "\\$").replace("`", "\\`")
    for char in extra:
        out = out.replace(char, "\\" + char)
    for placeholder, var in subs:
        out = out.replace(placeholder, var)
    return out


def word(text: str, subs) -> str:
    """One shell word: single-quoted, or double-quoted with its placeholders as variables."""
    text = str(text)
    if not any(p in text for p, _ in subs):
        return shlex.quote(text)
    return '"' + _escape(text, subs, '"') + '"'


def _path(text: str, subs) -> str:
    return word(str(text).replace("~", HOME, 1) if str(text).startswith("~/") else text, subs)


def context(adapter: Adapter, *, model: str, endpoint: str, task: Optional[Task], options: dict) -> LaunchContext:
    """The context the adapter builds its launch for: placeholders for HOME, the key and (no task) the prompt."""
    if task is None:
        task = Task(id="your/task", prompt=PROMPT, language="any", test_command="true", workspace=Path("/nonexistent"))
    defaults = {o.name: str(o.default).lower() if o.type == "bool" else str(o.default)
                for o in (adapter.options or ()) if o.default is not None}
    return LaunchContext(task=task, model=model, workdir=task.workspace, home=Path(HOME), base_url=endpoint,
                         api_key=KEY, options={**defaults, **options}, mode="headless", agent_from_image=True)


def script(adapter: Adapter, **kw) -> str:
    """The shell script of :func:`wiring` alone."""
    return wiring(adapter, **kw)[0]


def wiring(adapter: Adapter, *, model: Optional[str] = None, endpoint: Optional[str] = None,
           api_key_env: Optional[str] = None, task: Optional[Task] = None, options: Optional[dict] = None,
           model_default: Optional[str] = None) -> tuple[str, str]:
    """``(script, key variable)``: the shell script that runs ``adapter``'s agent by itself against ``endpoint`` with the key in ``$api_key_env``.

    Without ``model`` or ``endpoint`` the script reads ``$MODEL`` (default ``model_default``)
    and ``$ENDPOINT`` (the root URL, without ``/v1``).
    """
    if adapter.wiring is None:
        raise CabError(f"adapter {adapter.name!r} has no wiring to show (it is not an installed agent)")
    if api_key_env is not None and not _VAR_RE.match(api_key_env):
        raise CabError(f"--api-key-env {api_key_env!r} is not an environment variable name")
    known = {o.name for o in adapter.options or ()}
    unknown = sorted(set(options or {}) - known) if adapter.options is not None else []
    if unknown:
        raise CabError(f"adapter {adapter.name!r} has no option {unknown[0]!r} (available: {', '.join(sorted(known)) or 'none'})")
    ctx = context(adapter, model=model or MODEL, endpoint=endpoint or ENDPOINT, task=task, options=dict(options or {}))
    parts = adapter.wiring(ctx)
    key_var = api_key_env or parts.get("key_env") or "API_KEY"
    subs = _subs(key_var, str(ctx.workdir))
    lines = [
        "#!/bin/sh",
        f"# {adapter.name} {adapter.version} by itself against your endpoint, wired as cab wires it for a cell.",
        f"# Install: {parts.get('install') or f'cab agents install {adapter.name}'}",
        f"# Run it in the task's folder with your key in ${key_var}; HOME is a fresh folder, as in a cell.",
        "set -e",
        f': "${{{key_var}:?set {key_var} to your endpoint\'s key}}"',
        f'CAB_AGENTS_DIR="${{CAB_AGENTS_DIR:-{_escape(str(agents_dir()), [], chr(34))}}}"',
        'AGENT_HOME="${AGENT_HOME:-$(mktemp -d)}"',
    ]
    if model is None:
        lines.append(f'MODEL="${{MODEL:-{_escape(model_default, [], chr(34))}}}"' if model_default
                     else ': "${MODEL:?set MODEL to your model id}"')
    if endpoint is None:
        lines.append(': "${ENDPOINT:?set ENDPOINT to your endpoint\'s root URL (without /v1)}"')
    if task is None:
        lines.append(': "${PROMPT:?set PROMPT to the task}"')
    for name, text in parts.get("files", {}).items():
        target = _path(name, subs)
        lines += [f"mkdir -p \"$(dirname {target})\"", f"cat > {target} <<'CAB_EOF'" if not any(
            p in text for p, _ in subs) else f"cat > {target} <<CAB_EOF"]
        body = text if not any(p in text for p, _ in subs) else _escape(text, subs, "")
        lines += [body.rstrip("\n"), "CAB_EOF"]
    for target, link in parts.get("links", []):
        lines += [f"mkdir -p \"$(dirname {_path(link, subs)})\"", f"ln -sfn {_path(target, subs)} {_path(link, subs)}"]
    for source, copy in parts.get("copies", []):
        source = _path(source, subs)
        if "*" in source:  # a glob: expanded by the shell, first match
            quote = source[0] if source[0] in "'\"" else ""
            source = source.replace("*", f"{quote}*{quote}")
            lines.append(f"set -- {source}")
            source = '"$1"'
        lines += [f"mkdir -p \"$(dirname {_path(copy, subs)})\"", f"cp {source} {_path(copy, subs)}"]
    lines.append('export HOME="$AGENT_HOME"')
    for key, value in parts.get("env", {}).items():
        lines.append(f"export {key}={word(value, subs)}")
    lines.append("exec " + " ".join(word(a, subs) for a in parts["argv"]))
    return "\n".join(lines) + "\n", key_var


@functools.lru_cache(maxsize=1)
def _registry_and_catalog():
    from .plugins import get_plugin_manager
    from .registry import Registry
    from .tasks import TaskCatalog

    registry = Registry(get_plugin_manager())
    return registry, TaskCatalog(registry)


def cell_wiring(result) -> Optional[dict]:
    """The "Explore with your own model" wiring of a cell's agent: ``{script, key_env}``, or None.

    None when the cell's adapter is not loaded here or is not an installed agent.  The
    model defaults to the cell's (``$MODEL`` overrides it); endpoint and key are the user's.
    """
    ident = result.identity
    try:
        registry, catalog = _registry_and_catalog()
        adapter = registry.adapters.get(ident.adapter)
    except Exception:  # no plugins here, or not this adapter: the page simply has no wiring
        return None
    if adapter.wiring is None:
        return None
    try:
        task = catalog.get(ident.task)
    except Exception:
        task = None
    words = shlex.split(result.command) if result.command else []
    names = {o.name for o in adapter.options or ()}
    options = dict(w.split("=", 1) for w, flag in zip(words[1:], words) if flag in ("-o", "--option") and "=" in w)
    try:
        text, key_var = wiring(adapter, task=task, model_default=ident.model,
                               options={k: v for k, v in options.items() if k in names})
    except Exception as exc:
        return {"script": None, "error": f"{type(exc).__name__}: {exc}", "key_env": None}
    return {"script": text, "error": None, "key_env": key_var}
