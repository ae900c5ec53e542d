"""``cab sweep`` (run or resume a matrix of cells), ``cab summary`` (the leaderboard), ``cab index``."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import click

from . import handle_errors
from .run import parse_options, weights_option
from .tasks import tasks_dir_option

LEADERBOARD_COLUMNS = (
    "adapter", "model", "cells", "scored", "infra_errors", "passes", "pass_rate", "ci_low", "ci_high",
    "pass_at_k", "pass_hat_k", "tokens_per_correct", "latency_median_ms", "latency_p90_ms", "blast_rate",
    "integrity_rate", "refusal_correct_rate", "over_refusal_rate", "refusal_uncertain", "mean_composite",
)


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


# --------------------------------------------------------------------------- summary rendering


def _f(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def summarise(rows: list[dict], comparisons: Optional[list] = None, scorers=()) -> dict:
    """The leaderboard and the paired comparisons of a sweep's rows; ``scorers`` give the axis columns."""
    from .. import stats
    from ..errors import CabError

    scorers = list(scorers)
    board = stats.leaderboard(rows, scorers)
    keys = {(e["adapter"], e["model"]) for e in board}
    pairs = comparisons if comparisons is not None else stats.default_comparisons(board)
    for a, b in pairs:
        for key in (a, b):
            if key not in keys:
                known = ", ".join(f"{x}:{y}" for x, y in sorted(keys))
                raise CabError(f"no cells for {key[0]}:{key[1]} in this sweep (known: {known})")
    return {"leaderboard": board, "comparisons": [stats.compare(rows, a, b) for a, b in pairs], "scorers": scorers}


def _axis_cell(scorer, entry: dict) -> str:
    from ..scoring import format_value

    return format_value(scorer, (entry.get("axes") or {}).get(scorer.name, {}).get("value"),
                        aggregation=scorer.aggregation)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in [head, *rows]]


def leaderboard_lines(sweep_id: str, summary: dict) -> list[str]:
    """The human leaderboard: one line per adapter×model, one column per axis in order, then the comparisons."""
    board, scorers = summary["leaderboard"], summary.get("scorers") or []
    trials = max((e["trials"] for e in board), default=1)
    head = ["adapter", "model", "cells", "pass rate [95% CI]"]
    if trials > 1:
        head += [f"pass@{trials}", f"pass^{trials}"]
    head += [s.title for s in scorers] + ["infra"]
    table = []
    for e in board:
        rate = "–" if e["pass_rate"] is None else f"{e['pass_rate']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"
        row = [e["adapter"], e["model"], str(e["cells"]), rate]
        if trials > 1:
            row += [_f(e["pass_at_k"].get(trials)), _f(e["pass_hat_k"].get(trials))]
        table.append(row + [_axis_cell(s, e) for s in scorers] + [str(e["infra_errors"])])
    lines = [f"sweep {sweep_id}", *_table(head, table)]
    if scorers:
        lines.append("  (" + "; ".join(f"{s.title}: {s.name} {s.aggregation}, {s.direction} is better"
                                      for s in scorers) + ")")
    if summary["comparisons"]:
        lines.append("")
        lines.append("paired comparisons (same task and trial; McNemar exact, paired bootstrap over tasks):")
    for c in summary["comparisons"]:
        a = f"{c['a']['adapter']}:{c['a']['model']}"
        b = f"{c['b']['adapter']}:{c['b']['model']}"
        delta = "–" if c["delta_pass_rate"] is None else (
            f"{c['delta_pass_rate']:+.3f} [{c['delta_ci_low']:+.3f}, {c['delta_ci_high']:+.3f}]")
        lines.append(f"  {a} vs {b}: {c['pairs']} pairs on {c['tasks']} tasks, only A passes {c['only_a']}, "
                     f"only B {c['only_b']}; McNemar p = {c['mcnemar_p']:.3g}; "
                     f"Δ pass rate {delta}, bootstrap p = {_f(c['bootstrap_p'], 3)}")
    return lines


def axis_lines(sweep_id: str, summary: dict, axis: str) -> list[str]:
    """``cab summary --axis NAME``: the groups ranked by one axis, best first by its scorer's direction."""
    from ..errors import UnknownNameError

    scorers = {s.name: s for s in summary.get("scorers") or []}
    if axis not in scorers:
        raise UnknownNameError("axis", axis, scorers)
    scorer = scorers[axis]
    sign = -1 if scorer.direction == "higher" else 1
    ranked = sorted(summary["leaderboard"], key=lambda e: (
        e["axes"][axis]["value"] is None, sign * (e["axes"][axis]["value"] or 0.0), e["adapter"], e["model"]))
    head = ["adapter", "model", "cells", f"{scorer.title} ({scorer.aggregation})"]
    rows = [[e["adapter"], e["model"], str(e["axes"][axis]["cells"]), _axis_cell(scorer, e)] for e in ranked]
    return [f"sweep {sweep_id}: axis {axis} ({scorer.direction} is better; {scorer.description})".rstrip(),
            *_table(head, rows)]


def _axis_columns(scorers) -> list[str]:
    return [f"{s.name}_{s.aggregation}" for s in scorers]


def leaderboard_csv(summary: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    scorers = summary.get("scorers") or []
    trials = max((e["trials"] for e in summary["leaderboard"]), default=1)
    cols = [c for c in LEADERBOARD_COLUMNS if c not in ("pass_at_k", "pass_hat_k")]
    extra = [f"pass@{k}" for k in range(1, trials + 1)] + [f"pass^{k}" for k in range(1, trials + 1)]
    writer.writerow(cols + extra + _axis_columns(scorers))
    for e in summary["leaderboard"]:
        axes = [e["axes"][s.name]["value"] for s in scorers]
        writer.writerow([e[c] if e[c] is not None else "" for c in cols]
                        + [e["pass_at_k"].get(k, "") for k in range(1, trials + 1)]
                        + [e["pass_hat_k"].get(k, "") for k in range(1, trials + 1)]
                        + ["" if v is None else v for v in axes])
    return out.getvalue()


def _json_ready(summary: dict) -> dict:
    board = [{**e, "pass_at_k": {str(k): v for k, v in e["pass_at_k"].items()},
              "pass_hat_k": {str(k): v for k, v in e["pass_hat_k"].items()}} for e in summary["leaderboard"]]
    axes = [{"name": s.name, "label": s.title, "direction": s.direction, "format": s.format,
             "aggregation": s.aggregation, "order": s.order, "plugin": s.plugin, "description": s.description}
            for s in summary.get("scorers") or []]
    return {**{k: v for k, v in summary.items() if k != "scorers"}, "leaderboard": board, "axes": axes}


def _parse_pair(text: str) -> tuple[str, str]:
    adapter, sep, model = text.partition(":")
    if not sep or not adapter or not model:
        raise click.BadParameter(f"{text!r} is not ADAPTER:MODEL", param_hint="--compare")
    return adapter, model


def _sweep_rows(results: Path, sweep_id: str) -> tuple[list[dict], Optional[dict]]:
    from .. import index as _index
    from ..errors import CabError
    from ..sweep import read_manifest

    sweep_root = Path(results) / sweep_id
    if not sweep_root.is_dir():
        known = sorted(p.name for p in Path(results).iterdir() if p.is_dir()) if Path(results).is_dir() else []
        raise CabError(f"no sweep {sweep_id!r} under {results} (known: {', '.join(known) or 'none'})")
    with _index.ensure(results) as idx:
        idx.sync(sweep_root)
        rows = idx.rows(sweep_id)
    return rows, read_manifest(sweep_root)


# --------------------------------------------------------------------------- commands


def register(cli: click.Group) -> None:
    @cli.command()
    @click.argument("sweep_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--adapters", help="Comma-separated adapters, e.g. pi,aider.")
    @click.option("--models", "models", multiple=True,
                  help="Comma-separated models for every adapter, or ADAPTER=M1,M2 for one (repeatable).")
    @click.option("--tasks", "tasks", multiple=True, help="Task patterns: glob, prefix or comma list (repeatable).")
    @click.option("--trials", type=click.IntRange(min=1), help="Trials per cell [1].")
    @click.option("--jobs", "-j", type=click.IntRange(min=1), help="Cells at once (local pool or LocalCluster workers) [1].")
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
    @click.pass_obj
    @handle_errors
    def sweep(state, sweep_file, adapters, models, tasks, trials, jobs, sandbox, executor, scheduler, worker_results,
              sweep_id, resume, retries, timeout, endpoint, api_key_env, plugins, options, results, tasks_dirs,
              task_format, weights, as_json):
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
            "weights": parse_weights(weights) if weights else None,
        }
        root = Path(results or file_layer.get("results") or "results")
        chosen = sweep_id or file_layer.get("sweep_id")
        if resume and not chosen:
            chosen = latest_sweep(root, file_layer.get("source"))
            if chosen is None:
                raise CabError(f"nothing to resume under {root} (no sweep.json found); start one with cab sweep ...")
        manifest_layer = {}
        if chosen:
            manifest = read_manifest(root / chosen)
            if manifest:
                manifest_layer = spec_from_manifest(manifest)
        if chosen:
            cli_layer["sweep_id"] = chosen
        default_id = None
        if sweep_file and not chosen:
            default_id = f"{Path(sweep_file).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        spec = build_spec(manifest_layer, file_layer, cli_layer, default_id=default_id)

        catalog = state.catalog(spec.tasks_dirs, spec.task_format)
        progress = RichProgress() if sys.stderr.isatty() and not as_json else PlainProgress()
        try:
            report = run_sweep(spec, state.registry, catalog, observer=progress)
        except KeyboardInterrupt:
            # A second Ctrl-C: cells in flight are abandoned (never half-written); resume picks them up.
            click.echo(f"abandoned; resume with: cab sweep --resume --sweep-id {spec.sweep_id}", err=True)
            sys.stderr.flush()
            os._exit(130)
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

    @cli.command()
    @click.argument("sweep_id")
    @click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
    @click.option("--compare", "compare", nargs=2, multiple=True, metavar="ADAPTER:MODEL ADAPTER:MODEL",
                  help="Paired comparison of two groups (repeatable; default: every pair, or each against the leader).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--csv", "as_csv", is_flag=True, help="Print the leaderboard as CSV.")
    @click.option("--axis", metavar="NAME", help="Rank the groups by one axis (see 'cab scorers').")
    @click.pass_obj
    @handle_errors
    def summary(state, sweep_id, results, compare, as_json, as_csv, axis):
        """The leaderboard of SWEEP_ID: per adapter×model statistics, one column per axis, paired comparisons."""
        rows, manifest = _sweep_rows(results, sweep_id)
        pairs = [(_parse_pair(a), _parse_pair(b)) for a, b in compare] or None
        data = summarise(rows, pairs, state.registry.scorers_in_order())
        if axis:
            lines = axis_lines(sweep_id, data, axis)
            if as_json:
                click.echo(json.dumps({"sweep_id": sweep_id, "axis": axis, "groups": [
                    {"adapter": e["adapter"], "model": e["model"], **e["axes"][axis]} for e in data["leaderboard"]]},
                    indent=2))
            else:
                click.echo("\n".join(lines))
        elif as_csv:
            click.echo(leaderboard_csv(data), nl=False)
        elif as_json:
            click.echo(json.dumps({"sweep_id": sweep_id, **_json_ready(data),
                                   "normalisation": (manifest or {}).get("normalisation")}, indent=2))
        else:
            for line in leaderboard_lines(sweep_id, data):
                click.echo(line)

    @cli.command("index")
    @click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
    @click.option("--rebuild", is_flag=True, help="Drop the index and rebuild it from the cell files.")
    @click.pass_obj
    @handle_errors
    def index_(state, results, rebuild):
        """Bring the SQLite index of --results up to date (query it with sqlite3 or datasette)."""
        from .. import index as _index

        if rebuild:
            counts = _index.rebuild(results)
        else:
            with _index.ensure(results) as idx:
                counts = idx.sync()
        click.echo(f"{Path(results) / _index.INDEX_FILE}: {counts['cells']} cells ({counts['updated']} updated, "
                   f"{counts['removed']} removed, {counts['unreadable']} unreadable)")


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
