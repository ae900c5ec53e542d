"""``cab run`` (one cell), ``cab model serve`` (the scripted endpoint), ``cab replay``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from . import handle_errors
from .cost import cost_lines, cost_options
from .tasks import task_format_option, tasks_dir_option


def parse_options(values) -> dict:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="-o/--option")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def summary_lines(result, path: Path, scorers=()) -> list[str]:
    """The short human summary ``cab run`` prints: one line per axis, in the scorers' ``order``.

    Each line is the axis's label, its value by the scorer's ``format`` and the scorer's
    one-line ``note``; an axis with no registered scorer (an old cell) comes last, by name.
    """
    from ..scoring import format_value, note_of

    lines = [f"cell {result.cell_id}"]
    if result.status != "ok":
        lines.append(f"  INFRASTRUCTURE ERROR: {result.error}")
    iso = result.isolation
    lines.append(f"  sandbox {result.sandbox} (isolation: {iso}{' — the agent ran unisolated' if iso == 'none' else ''})"
                 f"  exit {result.exit_code}{'  TIMED OUT' if result.timed_out else ''}  {result.duration_s:.2f} s")
    records = {s.name: s for s in scorers}
    names = [n for n in records if n in result.scores] + sorted(n for n in result.scores if n not in records)
    for name in names:
        score, record = result.scores[name], records.get(name)
        label = record.title if record is not None else name
        lines.append(f"  {label:<13} {format_value(record, score.value):>10}  {note_of(record, score)}".rstrip())
    lines += cost_lines(result)
    lines.append(f"  written to {path}")
    return lines


def weights_option(func):
    """``--weights AXIS=W,...``: the composite's weights (any registered axis; the rest keep their defaults)."""
    return click.option("--weights", metavar="AXIS=W,...",
                        help="Composite weights by axis name, e.g. pass_rate=0.5,test_focus=0.2 (see 'cab scorers'); "
                             "unnamed axes keep their default weight.")(func)


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--adapter", "-a", required=True, help="Agent adapter (see 'cab adapters').")
    @click.option("--model", "-m", required=True, help="Model id, e.g. scripted/oracle.")
    @click.option("--task", "-t", "task_id", required=True, help="Task id (see 'cab tasks list').")
    @click.option("--endpoint", help="OpenAI-compatible base URL (default: the built-in scripted server).")
    @click.option("--api-key-env", metavar="VAR", help="Environment variable holding the endpoint's key.")
    @click.option("--sandbox", default="local", show_default=True, help="Where to run (see 'cab sandboxes').")
    @click.option("--plugin", "plugins", multiple=True, help="Agent plugin to stack (repeatable).")
    @click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
                  help="Adapter option, or PLUGIN.KEY=VALUE for an agent plugin (repeatable).")
    @click.option("--timeout", default=600.0, show_default=True, help="Seconds before the agent is killed.")
    @click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
    @click.option("--sweep-id", default="default", show_default=True)
    @click.option("--trial", default=1, show_default=True, type=click.IntRange(min=1))
    @click.option("--record-cassette", type=click.Path(path_type=Path), help="Save every model exchange to FILE.")
    @click.option("--replay-cassette", type=click.Path(path_type=Path, exists=True, dir_okay=False),
                  help="Answer model calls from FILE instead of an endpoint.")
    @click.option("--mode", type=click.Choice(["headless", "interactive"]), default="headless", show_default=True)
    @tasks_dir_option
    @task_format_option
    @weights_option
    @click.option("--json", "as_json", is_flag=True, help="Print the cell record as JSON.")
    @cost_options
    @click.pass_obj
    @handle_errors
    def run(state, adapter, model, task_id, endpoint, api_key_env, sandbox, plugins, options, timeout, results,
            sweep_id, trial, record_cassette, replay_cassette, mode, tasks_dirs, task_format, weights, as_json, **cost):
        """Run one cell: ADAPTER drives MODEL on TASK; scored and written under --results."""
        from .. import serialization
        from ..registry import check_options
        from ..runner import RunOptions, Runner
        from ..scoring import OPTION_WEIGHTS, check_weights, parse_weights

        from . import checks

        parsed_weights = parse_weights(weights) if weights else {}
        check_weights(parsed_weights, state.registry)
        checks.endpoint_url(endpoint)
        checks.scripted_model(model, endpoint=endpoint, replay=replay_cassette)
        checks.writable_folder(results, "--results")
        if record_cassette is not None:
            checks.writable_file(record_cassette, "--record-cassette")
        adapter_options = parse_options(options)
        check_options(state.registry.adapters.get(adapter), adapter_options)
        checks.option_prefixes(adapter_options, plugins)
        opts = RunOptions(adapter=adapter, model=model, task=task_id, sweep_id=sweep_id, trial=trial,
                          endpoint=endpoint, api_key_env=api_key_env, sandbox=sandbox, plugins=plugins,
                          options=adapter_options, timeout=timeout, results=results,
                          record_cassette=record_cassette, replay_cassette=replay_cassette, mode=mode,
                          score_options={OPTION_WEIGHTS: parsed_weights} if parsed_weights else {}, **cost)
        runner = Runner(state.registry, state.catalog(tasks_dirs, task_format))
        try:
            result, path = runner.run_cell(opts)
        finally:
            runner.close()
        if as_json:
            click.echo(serialization.dumps(result))
        else:
            for line in summary_lines(result, path, state.registry.scorers_in_order()):
                click.echo(line)
        if result.status != "ok":
            sys.exit(3)

    @cli.group()
    def model():
        """The built-in scripted model endpoint."""

    @model.command("serve")
    @click.option("--task", "-t", "task_id", required=True, help="Task whose reference solution the oracle serves.")
    @click.option("--port", default=0, type=click.IntRange(0, 65535), help="Port on 127.0.0.1 (0: any free port).")
    @tasks_dir_option
    @task_format_option
    @click.pass_obj
    @handle_errors
    def serve(state, task_id, port, tasks_dirs, task_format):
        """Serve scripted/oracle, noop, refuse and vandal for TASK on 127.0.0.1 until Ctrl-C."""
        from ..modelserver import ScriptContext, ScriptedModelServer
        from ..tasks import protected_paths, solution_files

        task = state.catalog(tasks_dirs, task_format).get(task_id)
        tests = {rel: (task.workspace / rel).read_text(errors="replace") for rel in protected_paths(task)}
        server = ScriptedModelServer(port=port).start()
        server.set_default(ScriptContext(task_id=task.id, solution_files=solution_files(task), test_files=tests,
                                         prompt=task.prompt))
        click.echo(f"scripted model server for {task.id} at {server.url}/v1 (models: scripted/oracle, scripted/noop, "
                   "scripted/refuse, scripted/vandal); Ctrl-C stops it")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()

    @cli.command()
    @click.argument("cell")
    @click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
    @click.option("--speed", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Playback speed factor.")
    @click.option("--max-wait", default=2.0, show_default=True, type=click.FloatRange(min=0), help="Longest pause between frames, seconds.")
    @click.pass_obj
    @handle_errors
    def replay(state, cell, results, speed, max_wait):
        """Play a cell's terminal recording (CELL: a cell folder or a cell id)."""
        from ..errors import CabError
        from ..results import find_cell

        folder = Path(cell)
        if not (folder / "terminal.cast").is_file():
            found = find_cell(results, cell)
            if found is None:
                raise CabError(f"no cell {cell!r} under {results} (pass a cell folder or a cell id)")
            folder = found
        cast = folder / "terminal.cast"
        if not cast.is_file():
            raise CabError(f"{folder}: this cell has no terminal recording")
        last = 0.0
        with open(cast, encoding="utf-8") as fh:
            fh.readline()
            for line in fh:
                t, kind, data = json.loads(line)
                if kind != "o":
                    continue
                time.sleep(min(max(t - last, 0) / max(speed, 1e-6), max_wait))
                last = t
                sys.stdout.write(data)
                sys.stdout.flush()
