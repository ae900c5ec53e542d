"""``cab plugins``, ``cab adapters``, ``cab scorers``, ``cab sandboxes``, ``cab executors``, ``cab agent-plugins``."""

from __future__ import annotations

import json

import click

from . import handle_errors


def _emit_rows(rows: list[dict], as_json: bool, columns: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c) or "")) for r in rows)) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(str(row.get(c) or "").ljust(widths[c]) for c in columns).rstrip())


def _records_command(cli, name: str, attr: str, help_text: str, extra: tuple[str, ...] = ()):
    @cli.command(name, help=help_text)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    @handle_errors
    def command(state, as_json):
        collection = getattr(state.registry, attr)
        rows = []
        for record in collection:
            row = {"name": record.name, "plugin": record.plugin, "description": record.description}
            for key in extra:
                row[key] = record.title if key == "label" else getattr(record, key, None)
            rows.append(row)
        _emit_rows(rows, as_json, ["name", *extra, "plugin", "description"])
        for plugin, reason in sorted(collection.failures.items()):
            click.echo(f"warning: plugin {plugin!r} failed to list {name}: {reason}", err=True)

    return command


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    def plugins(state, as_json):
        """List every plugin: distribution, version, hooks and load status."""
        rows = [
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "module": info.module,
                "status": info.status,
                "error": info.error,
                "hooks": info.hooks,
            }
            for info in state.pm.plugin_infos()
        ]
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        for row in rows:
            row["hooks"] = ", ".join(row["hooks"])
            if row["error"]:
                row["status"] = f"failed: {row['error']}"
        _emit_rows(rows, False, ["name", "distribution", "version", "status", "hooks"])

    _records_command(cli, "adapters", "adapters", "List the agents cab can drive.", ("version",))
    _records_command(cli, "scorers", "scorers", "List the scoring axes (label, direction, format, aggregation).",
                     ("label", "direction", "format", "aggregation", "order"))
    _records_command(cli, "sandboxes", "sandboxes", "List where cells can run.")
    _records_command(cli, "executors", "executors", "List how a sweep's cells can be spread out (--executor NAME).")
    _records_command(cli, "agent-plugins", "agent_plugins", "List the launch modifiers (--plugin NAME).")
