"""``cab summary``: a sweep's leaderboard, one column per registered axis, and paired comparisons.

Columns come from the scorers' records (``label``, ``aggregation``, ``direction``,
``format``) in their ``order``; nothing here names an axis.  ``--json`` adds each
group's ``axes`` and the ``axes`` metadata; ``--csv`` adds one ``<axis>_<aggregation>``
column per axis; ``--axis NAME`` ranks the groups by one axis.  The named statistics
columns (pass@k, tokens per correct, ...) stay in ``--json``/``--csv`` for the HTML report.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Optional

import click

from . import handle_errors

LEADERBOARD_COLUMNS = (
    "adapter", "model", "cells", "scored", "infra_errors", "passes", "pass_rate", "ci_low", "ci_high",
    "pass_at_k", "pass_hat_k", "tokens_per_correct", "total_usd", "usd_per_correct", "latency_median_ms",
    "latency_p90_ms", "blast_rate",
    "integrity_rate", "refusal_correct_rate", "over_refusal_rate", "refusal_uncertain", "mean_composite",
)


# --------------------------------------------------------------------------- summary rendering


def _f(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _usd(entry: dict) -> str:
    """Dollars per correct task: ``unknown`` when a price is unknown (never 0), ``–`` when nothing passed."""
    if entry.get("total_usd") is None:
        return "unknown"
    return "–" if entry.get("usd_per_correct") is None else f"${entry['usd_per_correct']:.4g}"


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
                from ..errors import close_matches

                names = [f"{x}:{y}" for x, y in sorted(keys)]
                near = close_matches(f"{key[0]}:{key[1]}", names)
                hint = f", did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
                raise CabError(f"no cells for {key[0]}:{key[1]} in this sweep{hint} (known: {', '.join(names)})")
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
    head += ["$/correct"] + [s.title for s in scorers] + ["infra"]
    table = []
    for e in board:
        rate = "–" if e["pass_rate"] is None else f"{e['pass_rate']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"
        row = [e["adapter"], e["model"], str(e["cells"]), rate]
        if trials > 1:
            row += [_f(e["pass_at_k"].get(trials)), _f(e["pass_hat_k"].get(trials))]
        table.append(row + [_usd(e)] + [_axis_cell(s, e) for s in scorers] + [str(e["infra_errors"])])
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


def no_sweep(sweep_id: str, results: Path) -> str:
    """``no sweep 'x' under R, did you mean 'y'? (known: ...)``: the one line for a sweep id that is not there."""
    from ..errors import close_matches

    root = Path(results)
    known = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    near = close_matches(sweep_id, known)
    hint = f", did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    return f"no sweep {sweep_id!r} under {results}{hint} (known: {', '.join(known) or 'none'})"


def _sweep_rows(results: Path, sweep_id: str) -> tuple[list[dict], Optional[dict]]:
    from .. import index as _index
    from ..errors import CabError
    from ..sweep import read_manifest

    sweep_root = Path(results) / sweep_id
    if not sweep_root.is_dir():
        known = sorted(p.name for p in Path(results).iterdir() if p.is_dir()) if Path(results).is_dir() else []
        raise CabError(no_sweep(sweep_id, results))
    with _index.ensure(results) as idx:
        counts = idx.sync(sweep_root)
        rows = idx.rows(sweep_id)
    if counts.get("unreadable"):
        click.echo(unreadable_warning(counts["unreadable"], sweep_root), err=True)
    return rows, read_manifest(sweep_root)


def unreadable_warning(count: int, sweep_root: Path) -> str:
    return (f"warning: {count} cell file(s) under {sweep_root} could not be read and are left out "
            "('cab report' names each)")


def register(cli: click.Group) -> None:
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
        if as_json and as_csv:
            from ..errors import CabError

            raise CabError("give --json or --csv, not both")
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

