"""``cab agents list|install|wiring``: the agents adapters can install into the agent cache, and their wiring.

``wiring`` prints how to run one agent by itself against your own endpoint (see
:mod:`cab_core.wiring`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..errors import one_line
from . import handle_errors
from .listing import _emit_rows


def installable(registry) -> list:
    """Adapters that know how to install their agent."""
    return [a for a in registry.adapters if a.install is not None]


def agent_row(adapter) -> dict:
    """One line of ``cab agents list``."""
    from ..agents import agent_prefix

    try:
        installed = bool(adapter.is_installed()) if adapter.is_installed is not None else None
    except Exception as exc:  # a broken check is reported, not fatal
        installed = None
        click.echo(f"warning: plugin {adapter.plugin!r} ({adapter.name}) raised in is_installed: {exc}", err=True)
    prefix = agent_prefix(adapter.name, adapter.version) if adapter.version else None
    return {
        "name": adapter.name,
        "version": adapter.version,
        "installed": installed,
        "path": str(prefix) if installed and prefix else None,
        "plugin": adapter.plugin,
        "description": adapter.description,
    }


def register(cli: click.Group) -> None:
    @cli.group()
    def agents():
        """The agents cab drives: their pinned versions and the install cache ($CAB_AGENTS_DIR)."""

    @agents.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    @handle_errors
    def list_(state, as_json):
        """List installable agents: pinned version, whether installed, and where."""
        rows = [agent_row(a) for a in installable(state.registry)]
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        for row in rows:
            row["installed"] = {True: "yes", False: "no", None: "?"}[row["installed"]]
        _emit_rows(rows, False, ["name", "version", "installed", "path"])

    @agents.command("install")
    @click.argument("name")
    @click.option("--version", "version",
                  help="Install this version instead of the pinned one (cells run it with CAB_<NAME>_VERSION=V).")
    @click.option("--force", is_flag=True, help="Reinstall even if already installed.")
    @click.pass_obj
    @handle_errors
    def install(state, name, version, force):
        """Install agent NAME (or 'all') into the cache; skips what is installed already."""
        from ..errors import CabError, UnknownNameError

        candidates = installable(state.registry)
        if name == "all":
            if version:
                raise CabError("--version names one agent's version: use it with one agent, not 'all'")
            chosen = candidates
        else:
            chosen = [a for a in candidates if a.name == name]
            if not chosen:
                if name in state.registry.adapters:
                    raise CabError(f"adapter {name!r} has nothing to install")
                raise UnknownNameError("agent", name, [a.name for a in candidates])
        from ..agents import agents_dir

        cache = agents_dir()
        if cache == Path("/tmp") or Path("/tmp") in cache.parents:
            click.echo(f"warning: the agent cache {cache} is under /tmp, which cells do not see "
                       "(the sandbox gives each its own /tmp): set CAB_AGENTS_DIR elsewhere", err=True)
        failed = []
        for adapter in chosen:
            wanted = version or adapter.version
            label = f"{adapter.name} {wanted}".rstrip()
            if not force and wanted == adapter.version and adapter.is_installed is not None and adapter.is_installed():
                click.echo(f"{label}: already installed")
                continue
            click.echo(f"{label}: installing ...")
            t0 = time.monotonic()
            kwargs = {"version": version} if version else {}
            if force:
                kwargs["force"] = True
            try:
                where = adapter.install(**kwargs)
            except Exception as exc:
                message = one_line(exc, bare=True)
                click.echo(f"Error: {label}: {message}", err=True)
                failed.append(adapter.name)
                continue
            click.echo(f"{label}: installed{f' at {where}' if where else ''} ({time.monotonic() - t0:.1f} s)")
        if failed:
            raise click.exceptions.Exit(1)

    @agents.command("wiring")
    @click.argument("name")
    @click.option("-m", "--model", help="The model the agent asks for (default: the script reads $MODEL).")
    @click.option("--endpoint", metavar="URL",
                  help="Your endpoint, with or without /v1 (default: the script reads $ENDPOINT, the root URL).")
    @click.option("--api-key-env", metavar="VAR", help="The variable holding your key (default: the one the agent's client reads).")
    @click.option("-t", "--task", "task_id", help="Wire the prompt and files of this task (default: the prompt is $PROMPT).")
    @click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="An adapter option, as for cab run.")
    @click.pass_obj
    @handle_errors
    def wiring(state, name, model, endpoint, api_key_env, task_id, options):
        """Print a shell script that runs agent NAME by itself against your endpoint, wired as cab wires it."""
        from .. import wiring as w
        from .run import parse_options

        from . import checks

        adapter = state.registry.adapters.get(name)
        checks.endpoint_url(endpoint)
        task = state.catalog().get(task_id) if task_id else None
        click.echo(w.script(adapter, model=model, endpoint=endpoint, api_key_env=api_key_env,
                            task=task, options=parse_options(options)), nl=False)
