"""``cab tasks list|show|validate``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

from . import handle_errors

tasks_dir_option = click.option(
    "--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Also load tasks from this folder, or a file some task formats read (SWE-bench's JSONL) "
         "(repeatable; also $CAB_TASKS_PATH).",
)
task_format_option = click.option("--task-format", default="auto", show_default=True,
                                  help="Format of --tasks-dir folders (native, harbor, exercism, swebench, ... or auto).")


def task_row(task) -> dict:
    return {
        "id": task.id,
        "category": task.category,
        "language": task.language,
        "tags": list(task.tags),
        "expected_refusal": task.expected_refusal,
        "toolchain": list(task.toolchain),
        "format": task.format,
        "path": str(task.source_path) if task.source_path else None,
    }


def register(cli: click.Group) -> None:
    @cli.group()
    def tasks():
        """List, show, validate and import tasks."""

    @tasks.command("list")
    @click.argument("pattern", required=False)
    @tasks_dir_option
    @task_format_option
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    @handle_errors
    def list_(state, pattern, tasks_dirs, task_format, as_json):
        """List tasks whose id matches PATTERN (glob, prefix or comma list)."""
        rows = [task_row(t) for t in state.catalog(tasks_dirs, task_format).select(pattern)]
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        width = max((len(r["id"]) for r in rows), default=2)
        for r in rows:
            flags = ",".join(r["tags"])
            click.echo(f"{r['id'].ljust(width)}  {r['language']:<10}  {flags}")
        click.echo(f"{len(rows)} tasks", err=True)

    @tasks.command("show")
    @click.argument("task_id")
    @tasks_dir_option
    @task_format_option
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    @handle_errors
    def show(state, task_id, tasks_dirs, task_format, as_json):
        """Show one task: its prompt, test command and globs."""
        task = state.catalog(tasks_dirs, task_format).get(task_id)
        row = task_row(task)
        row.update(prompt=task.prompt, test_command=task.test_command, test_timeout=task.test_timeout,
                   expected_changes=list(task.expected_changes), protected=list(task.protected),
                   refusal_keywords=list(task.refusal_keywords), hidden_tests=task.hidden_tests is not None)
        if as_json:
            click.echo(json.dumps(row, indent=2))
            return
        for key, value in row.items():
            if key != "prompt":
                click.echo(f"{key}: {value}")
        click.echo("prompt:")
        for line in task.prompt.strip().splitlines():
            click.echo(f"  {line}")

    @tasks.command("validate")
    @click.argument("pattern", required=False)
    @tasks_dir_option
    @task_format_option
    @click.option("--jobs", "-j", default=2, show_default=True, type=click.IntRange(min=1), help="Tasks checked in parallel.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    @handle_errors
    def validate(state, pattern, tasks_dirs, task_format, jobs, as_json):
        """Check that each task's starting files FAIL its tests and its solution PASSES them."""
        from ..validate import validate_tasks

        selected = state.catalog(tasks_dirs, task_format).select(pattern)
        session = state.registry.sandboxes.get("local").open()

        def show(v):
            if not as_json:
                mark = "ok  " if v.ok else ("ENV " if v.environment else "FAIL")
                tests = f"  [{v.channel}: {len(v.expected_tests)} expected tests]" if v.ok else ""
                click.echo(f"{mark}  {v.task_id}{tests}" + (f": {v.problem}" if v.problem else ""))

        results = validate_tasks(selected, session, jobs=jobs, on_result=show)
        broken = [v for v in results if not v.ok]
        if as_json:
            click.echo(json.dumps([{"task": v.task_id, "ok": v.ok, "start_exit": v.start_exit,
                                    "solution_exit": v.solution_exit, "problem": v.problem, "environment": v.environment,
                                    "channel": v.channel, "expected_tests": list(v.expected_tests)}
                                   for v in results], indent=2))
        click.echo(f"{len(results) - len(broken)} of {len(results)} tasks valid"
                   + (f"; broken: {', '.join(v.task_id for v in broken)}" if broken else ""), err=True)
        sys.exit(1 if broken else 0)

    @tasks.command("import")
    @click.argument("format_name", metavar="FORMAT")
    @click.argument("path", type=click.Path(exists=True, path_type=Path))
    @click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
                  help="Folder to write the native task folders into (one per task id).")
    @click.option("--force", is_flag=True, help="Replace task folders that exist already.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    @handle_errors
    def import_(state, format_name, path, out, force, as_json):
        """Convert the tasks at PATH, in FORMAT (or auto), to cab's native format under --out."""
        from ..errors import CabError
        from ..tasks import source_for

        source = source_for(state.registry, path, format_name)
        if path.is_dir() and out.resolve().is_relative_to(path.resolve()):
            raise CabError(f"{out}: --out must not be inside {path} (the written tasks would be read back as {source.name} tasks)")
        native = state.registry.task_sources.get("native")
        if native.write is None:
            raise CabError(f"task format 'native' (plugin {native.plugin!r}) cannot write tasks")
        found = sorted(source.load((path,)), key=lambda t: t.id)
        if not found:
            raise CabError(f"{path}: no {source.name} tasks found there (see 'cab tasks list --tasks-dir {path}')")
        rows, failed = [], 0
        for task in found:
            dest = out.joinpath(*task.id.split("/"))
            try:
                if dest.exists() and force:
                    shutil.rmtree(dest)
                notes = native.write(task, dest) or []
            except (CabError, OSError) as exc:
                failed += 1
                reason = str(exc) if isinstance(exc, CabError) else f"{dest}: {type(exc).__name__}: {exc}"
                click.echo(f"error: {reason}", err=True)
                rows.append({"id": task.id, "path": None, "error": reason, "notes": []})
                continue
            for note in notes:
                click.echo(f"note: {note}", err=True)
            rows.append({"id": task.id, "path": str(dest), "error": None, "notes": list(notes)})
            if not as_json:
                click.echo(f"{task.id}  ->  {dest}")
        if as_json:
            click.echo(json.dumps(rows, indent=2))
        click.echo(f"{len(rows) - failed} of {len(rows)} {source.name} tasks written to {out}", err=True)
        sys.exit(1 if failed else 0)
