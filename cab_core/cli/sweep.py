"""``cab sweep`` (run or resume a matrix of cells) and ``cab index``; the leaderboard is :mod:`.summary`."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import click

from . import handle_errors, settle
from .cost import cost_options, sweep_cost_layer
from .run import parse_options, weights_option
from .summary import _json_ready, _sweep_rows, leaderboard_lines, summarise, unreadable_warning
from .tasks import tasks_dir_option



# --------------------------------------------------------------------------- progress


class PlainProgress:
    """One line per finished cell: for logs and pipes."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.start_done = 0

    def _echo(self, text: str) -> None:
        click.echo(text, file=self.stream)

    def started(self, *, sweep_id, total, complete, passing, to_run):
        settle()  # the cells start: what start-up built (runner, executor) is out of the collector's sight
        self.t0 = time.monotonic()
        self.start_done = complete
        skipped = f", {complete} already complete" if complete else ""
        self._echo(f"sweep {sweep_id}: {total} cells, {to_run} to run{skipped}")

    def cell_finished(self, outcome, *, done, total, passing, retrying):
        elapsed = time.monotonic() - self.t0
        fresh = done - self.start_done
        eta = (elapsed / fresh) * (total - done) if fresh > 0 else None
        if outcome.status != "ok":
            verdict = "INFRA" + (" (will retry)" if retrying else "")
        else:
            verdict = "pass" if outcome.passed else "fail"
        o = outcome.opts
        trial = f"#{o.trial}" if o.trial > 1 else ""
        self._echo(f"[{done:>{len(str(total))}}/{total}] {verdict:<5} {o.adapter}/{o.model} {o.task}{trial} "
                   f"{outcome.duration_s:.1f}s | passing {passing}/{done}, elapsed {_hms(elapsed)}, "
                   f"eta {_hms(eta) if eta is not None else '?'}")
        if outcome.status != "ok" and outcome.error:
            self._echo(f"      {outcome.error}")

    def message(self, text):
        self._echo(text)

    def finished(self, report):
        pass


class RichProgress:
    """A live bar on a terminal: cells done/total, passing so far, elapsed, ETA."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("passing [green]{task.fields[passing]}[/]"), TextColumn("infra [red]{task.fields[infra]}[/]"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.task = None
        self.infra = 0

    def started(self, *, sweep_id, total, complete, passing, to_run):
        settle()  # as PlainProgress.started
        self.progress.start()
        self.task = self.progress.add_task(sweep_id, total=total, completed=complete, passing=passing, infra=0)
        if complete:
            self.progress.console.print(f"sweep {sweep_id}: {complete} of {total} cells already complete")

    def cell_finished(self, outcome, *, done, total, passing, retrying):
        if outcome.status != "ok" and not retrying:
            self.infra += 1
        if outcome.status != "ok":
            self.progress.console.print(f"[red]infra error[/] {outcome.opts.adapter}/{outcome.opts.model} "
                                        f"{outcome.opts.task}: {outcome.error}{' (will retry)' if retrying else ''}")
        self.progress.update(self.task, completed=done, passing=passing, infra=self.infra)

    def message(self, text):
        self.progress.console.print(text)

    def finished(self, report):
        self.progress.stop()


def _hms(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# --------------------------------------------------------------------------- commands


def register(cli: click.Group) -> None:
    @cli.command()
    @click.argument("sweep_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--adapters", help="Comma-separated adapters, e.g. pi,aider.")
    @click.option("--models", "models", multiple=True,
                  help="Comma-separated models for every adapter, or ADAPTER=M1,M2 for one (repeatable).")
    @click.option("--tasks", "tasks", multiple=True, help="Task patterns: glob, prefix or comma list (repeatable).")
    @click.option("--trials", type=click.IntRange(min=1), help="Trials per cell [1].")
    @click.option("--jobs", "-j", type=click.IntRange(min=1), help="Cells running their agent or tests at once; the next ones prepare beside them "
                  "(local pool), or LocalCluster workers [1].")
    @click.option("--sandbox", help="Where cells run (see 'cab sandboxes') [local].")
    @click.option("--executor", help="How cells are spread out (see 'cab executors'): local thread pool, or dask [local].")
    @click.option("--scheduler", metavar="tcp://HOST:PORT", help="Dask scheduler address (default: a LocalCluster).")
    @click.option("--worker-results", type=click.Choice(["shared", "return"]),
                  help="Dask workers write cells into the shared results path, or return them [shared].")
    @click.option("--sweep-id", help="Sweep id (folder under --results); re-running an id resumes it.")
    @click.option("--resume", is_flag=True, help="Continue a sweep (the latest one, without --sweep-id).")
    @click.option("--retries", type=click.IntRange(min=0), help="Reruns of a cell that ended in an infrastructure error [2].")
    @click.option("--timeout", type=float, help="Seconds before an agent is killed [600].")
    @click.option("--endpoint", help="OpenAI-compatible base URL (default: the built-in scripted server).")
    @click.option("--api-key-env", metavar="VAR", help="Environment variable holding the endpoint's key.")
    @click.option("--plugin", "plugins", multiple=True, help="Agent plugin to stack (repeatable).")
    @click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Adapter option (repeatable).")
    @click.option("--results", type=click.Path(path_type=Path), help="Results folder [results].")
    @tasks_dir_option
    @click.option("--task-format", default=None, help="Format of --tasks-dir folders [auto].")
    @weights_option
    @click.option("--json", "as_json", is_flag=True, help="Print the run report and leaderboard as JSON.")
    @cost_options
    @click.pass_obj
    @handle_errors
    def sweep(state, sweep_file, adapters, models, tasks, trials, jobs, sandbox, executor, scheduler, worker_results,
              sweep_id, resume, retries, timeout, endpoint, api_key_env, plugins, options, results, tasks_dirs,
              task_format, weights, as_json, **cost):
        """Run ADAPTERS × MODELS × TASKS × TRIALS as one sweep (from SWEEP_FILE and/or flags).

        \b
        Examples:
          cab sweep --adapters command --models oracle,noop --tasks 'polyglot/python-*' --trials 2 --jobs 2
          cab sweep --adapters command,mini --models command=oracle,noop --models mini=scripted/oracle --tasks polyglot/js-
          cab sweep nightly.toml --executor dask --scheduler tcp://10.0.0.5:8786
          cab sweep --resume                      # continue the latest sweep where it stopped

        Complete cells of the sweep are kept; missing ones and infrastructure errors
        (up to --retries) run.  Exit status: 0 when every cell was scored, 3 when
        infrastructure errors remain, 130 when interrupted, 2 for a user error.
        """
        from .. import serialization
        from ..errors import CabError
        from ..scoring import parse_weights
        from ..sweep import build_spec, latest_sweep, load_sweep_file, parse_models, read_manifest, run_sweep, spec_from_manifest

        file_layer = load_sweep_file(sweep_file) if sweep_file else {}
        _check_file_names(state.registry, file_layer, sweep_file)
        common, per = parse_models(models)
        cli_layer = {
            "sweep_id": sweep_id, "adapters": _list(adapters), "models": common or None, "adapter_models": per or None,
            "tasks": list(tasks) or None, "trials": trials, "jobs": jobs, "sandbox": sandbox, "executor": executor,
            "scheduler": scheduler, "worker_results": worker_results, "retries": retries, "timeout": timeout,
            "endpoint": endpoint, "api_key_env": api_key_env, "plugins": list(plugins) or None,
            "options": parse_options(options) or None, "results": results,
            "tasks_dirs": list(tasks_dirs) or None, "task_format": task_format,
            "weights": parse_weights(weights) if weights else None, **sweep_cost_layer(cost),
        }
        root = Path(results or file_layer.get("results") or "results")
        chosen = sweep_id or file_layer.get("sweep_id")
        if resume and not chosen:
            chosen = latest_sweep(root, file_layer.get("source"))
            if chosen is None:
                raise CabError(f"nothing to resume under {root} (no sweep.json found); start one with cab sweep ...")
        manifest_layer = {}
        if resume and chosen and not (root / chosen).is_dir():
            from .summary import no_sweep

            raise CabError(f"--resume: {no_sweep(chosen, root)}")
        if chosen:
            _check_manifest(root / chosen)
            manifest = read_manifest(root / chosen)
            if manifest:
                manifest_layer = spec_from_manifest(manifest)
        if chosen:
            cli_layer["sweep_id"] = chosen
        default_id = None
        if sweep_file and not chosen:
            default_id = f"{Path(sweep_file).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        spec = build_spec(manifest_layer, file_layer, cli_layer, default_id=default_id)

        _preflight(spec)
        catalog = state.catalog(spec.tasks_dirs, spec.task_format)
        progress = RichProgress() if sys.stderr.isatty() and not as_json else PlainProgress()
        try:
            report = run_sweep(spec, state.registry, catalog, observer=progress)
        except KeyboardInterrupt:
            # A second Ctrl-C: cells in flight are abandoned (never half-written); resume picks them up.
            click.echo(f"abandoned; resume with: cab sweep --resume --sweep-id {spec.sweep_id}", err=True)
            sys.stderr.flush()
            from ..sandbox import procs

            if procs.STOPPING.is_set():  # SIGTERM: the cells in flight were killed and end now; clean up and exit
                sys.exit(128 + signal.SIGTERM)
            os._exit(130)
        if report.rows is not None:  # the rows the sweep left in the index: not read again (issue 16)
            rows = report.rows
            if report.unreadable:
                click.echo(unreadable_warning(report.unreadable, report.root), err=True)
        else:
            rows, _ = _sweep_rows(spec.results, spec.sweep_id)
        summary = summarise(rows, scorers=state.registry.scorers_in_order())
        if as_json:
            data = {"report": serialization.unstructure(
                {k: getattr(report, k) for k in ("sweep_id", "total", "skipped", "ran", "retried", "passing",
                                                 "infra_errors", "missing", "elapsed_s", "interrupted")}),
                    "root": str(report.root), **_json_ready(summary)}
            click.echo(json.dumps(data, indent=2))
        else:
            click.echo(f"{report.total} cells: ran {report.ran} ({report.retried} retries), skipped {report.skipped} "
                       f"already complete, {report.infra_errors} infrastructure errors, {report.elapsed_s:.1f} s; "
                       f"written to {report.root}")
            for line in leaderboard_lines(spec.sweep_id, summary):
                click.echo(line)
        if report.interrupted:
            click.echo(f"interrupted; resume with: cab sweep --resume --sweep-id {spec.sweep_id}", err=True)
            sys.exit(130)
        if report.infra_errors or report.missing:
            sys.exit(3)

    @cli.command("index")
    @click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
    @click.option("--rebuild", is_flag=True, help="Drop the index and rebuild it from the cell files.")
    @click.pass_obj
    @handle_errors
    def index_(state, results, rebuild):
        """Bring the SQLite index of --results up to date (query it with sqlite3 or datasette)."""
        from .. import index as _index
        from . import checks

        checks.writable_folder(results, "--results", create=False)
        if rebuild:
            counts = _index.rebuild(results)
        else:
            with _index.ensure(results) as idx:
                counts = idx.sync()
        click.echo(f"{Path(results) / _index.INDEX_FILE}: {counts['cells']} cells ({counts['updated']} updated, "
                   f"{counts['removed']} removed, {counts['unreadable']} unreadable)")


def _check_manifest(sweep_root: Path) -> None:
    """A sweep folder's ``sweep.json`` must be one this cab wrote: resuming over another would replace it."""
    from ..errors import CabError
    from ..sweep import MANIFEST_FILE, MANIFEST_VERSION

    path = sweep_root / MANIFEST_FILE
    if not path.exists():
        return
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CabError(f"{path}: not a sweep manifest cab can read ({type(exc).__name__}: {exc}); "
                       "choose another --sweep-id, or move the folder away") from None
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if version != MANIFEST_VERSION:
        raise CabError(f"{path}: written by another version of cab (manifest schema_version {version!r}; this cab "
                       f"writes {MANIFEST_VERSION}); choose another --sweep-id or --results")


def _preflight(spec) -> None:
    """What a sweep names that can be checked before any cell runs (see :mod:`.checks`)."""
    from ..errors import CabError
    from . import checks

    checks.endpoint_url(spec.endpoint)
    checks.scheduler_address(spec.scheduler)
    checks.option_prefixes(spec.options, spec.plugins)
    for pattern in spec.tasks:
        if not str(pattern).strip():
            raise CabError("--tasks: an empty pattern (give a glob, a prefix or a comma list, e.g. 'polyglot/*')")
    for adapter, model in spec.pairs():
        checks.scripted_model(model, endpoint=spec.endpoint, replay=None)
    checks.writable_folder(spec.results, "--results")


def _check_file_names(registry, layer: dict, sweep_file) -> None:
    """Names a sweep file gives that only the plugins know (executor, weights): one line naming the file."""
    from ..errors import CabError
    from ..scoring import check_weights

    try:
        if layer.get("executor") is not None:
            registry.executors.get(layer["executor"])
        check_weights(layer.get("weights") or {}, registry)
    except CabError as exc:
        field = "executor" if "executor" in str(exc) else "weights"
        raise CabError(f"{sweep_file}: field {field}: {exc}") from None


def _list(value: Optional[str]) -> Optional[list[str]]:
    if not value:
        return None
    return [p.strip() for p in value.split(",") if p.strip()]
