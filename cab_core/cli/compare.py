"""``cab compare A B``: two cells, or two adapter×model groups of a sweep, side by side.

The numbers come from :mod:`cab_core.compare` (which the report's compare pages use
too); this module only prints them.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import handle_errors


def _num(value, fmt="{:,.0f}", unknown="–") -> str:
    return unknown if value is None else fmt.format(value)


def _usd(value) -> str:
    return "unknown" if value is None else f"${value:,.4f}"


def _signed(value, fmt) -> str:
    return "–" if value is None else ("+" if value > 0 else "") + fmt.format(value)


def _per_correct(side: dict) -> str:
    """Dollars per correct task: "unknown" when a price is, "–" when nothing passed."""
    if side["total_cost_usd"] is None:
        return "unknown"
    return "–" if side["usd_per_correct"] is None else f"${side['usd_per_correct']:,.4f}"


def _passed(cell) -> str:
    if cell is None:
        return "—"
    if cell["status"] != "ok":
        return "error"
    return "pass" if cell["passed"] else "fail"


def _side_lines(data: dict) -> list[str]:
    a, b, d = data["a"], data["b"], data["delta"]
    rate = lambda s: _num(None if s["pass_rate"] is None else 100 * s["pass_rate"], "{:.0f}%")  # noqa: E731
    secs = lambda ms: _num(None if ms is None else ms / 1000, "{:.1f} s")  # noqa: E731
    rows = [
        ("", "A", "B", "B − A (paired mean)"),
        ("passes", f"{a['passes']}/{a['scored']}", f"{b['passes']}/{b['scored']}",
         _signed(None if d["pass_rate"] is None else 100 * d["pass_rate"], "{:.0f} pp")),
        ("pass rate", rate(a), rate(b), ""),
        ("tokens", _num(a["total_tokens"]), _num(b["total_tokens"]), _signed(d["tokens"], "{:,.0f}")),
        ("cost", _usd(a["total_cost_usd"]), _usd(b["total_cost_usd"]),
         "unknown" if d["cost_usd"] is None and d["pairs"] else _signed(d["cost_usd"], "${:,.4f}")),
        ("$ per correct task", _per_correct(a), _per_correct(b), ""),
        ("agent time (median)", secs(a["median_wall_clock_ms"]), secs(b["median_wall_clock_ms"]),
         _signed(None if d["wall_clock_ms"] is None else d["wall_clock_ms"] / 1000, "{:.1f} s")),
    ]
    if data["kind"] == "cells":
        rows += [("model calls", str(a["model_calls"]), str(b["model_calls"]), ""),
                 ("files changed", ", ".join(a["changed_files"]) or "none", ", ".join(b["changed_files"]) or "none", "")]
    width = max(len(r[0]) for r in rows)
    cols = [max(len(r[i]) for r in rows) for i in (1, 2)]
    return [f"  {r[0]:<{width}}  {r[1]:>{cols[0]}}  {r[2]:>{cols[1]}}  {r[3]}".rstrip() for r in rows]


def render(data: dict, *, diffs: bool = False) -> list[str]:
    """The comparison as terminal lines."""
    a, b = data["a"], data["b"]
    lines = [f"A  {a['label']}", f"B  {b['label']}", ""]
    if data["kind"] == "groups":
        width = max([len(t["task"]) for t in data["tasks"]] + [4])
        lines.append(f"  {'task':<{width}}  trial  A      B")
        for t in data["tasks"]:
            mark = {"only_a": "  ← A only", "only_b": "  ← B only"}.get(t["outcome"], "")
            lines.append(f"  {t['task']:<{width}}  {t['trial']:>5}  {_passed(t['a']):<5}  {_passed(t['b']):<5}{mark}")
        c = data["counts"]
        lines += ["", f"  pairs: both pass {c['both']}, only A {c['only_a']}, only B {c['only_b']}, "
                      f"neither {c['neither']}; unpaired {c['unpaired']}", ""]
    else:
        t = data["tasks"][0]
        lines += [f"  task {t['task']}: A {_passed(t['a'])}, B {_passed(t['b'])}", ""]
    lines += _side_lines(data)
    paired = data.get("paired")
    if paired:
        delta = paired["delta_pass_rate"]
        ci = ("" if delta is None else f" (95% CI {100 * paired['delta_ci_low']:+.0f} to {100 * paired['delta_ci_high']:+.0f} pp, "
              f"bootstrap p = {paired['bootstrap_p']:.3g})")
        lines += ["", f"  paired test over {paired['pairs']} pairs of {paired['tasks']} tasks: McNemar exact "
                      f"p = {paired['mcnemar_p']:.3g} (A only {paired['only_a']}, B only {paired['only_b']})",
                  f"  A − B pass rate {_signed(None if delta is None else 100 * delta, '{:.0f} pp')}{ci}"]
    if diffs and data["kind"] == "cells":
        for name in ("a", "b"):
            lines += ["", f"--- diff of {name.upper()} ({data[name]['label']}) ---", data[name]["diff"].rstrip() or "(no changes)"]
    return lines


def _parse_group(text: str) -> tuple[str, str]:
    adapter, sep, model = text.partition(":")
    if not sep or not adapter or not model:
        raise click.BadParameter(f"{text!r} is not ADAPTER:MODEL (with --sweep, A and B are groups)")
    return adapter, model


def _one_cell(results: Path, target: str) -> Path:
    from ..errors import CabError
    from ..export import cell_folders

    folders = cell_folders(results, target)
    if len(folders) != 1:
        raise CabError(f"{target!r} names {len(folders)} cells; give one cell (or two groups with --sweep ID)")
    return folders[0]


def register(cli: click.Group) -> None:
    @cli.command()
    @click.argument("a")
    @click.argument("b")
    @click.option("--sweep", "sweep_id", help="A and B are ADAPTER:MODEL groups of this sweep.")
    @click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
    @click.option("--diffs", is_flag=True, help="Print both cells' diffs (two cells only).")
    @click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
    @handle_errors
    def compare(a, b, sweep_id, results, diffs, as_json):
        """Compare two cells (folders or cell ids), or two groups of a sweep (--sweep ID, A and B as ADAPTER:MODEL).

        \b
        Per-task outcomes side by side; token, cost and time differences; for groups
        the paired McNemar test and a bootstrap interval of the pass-rate difference.
          cab compare results/s1/pi/m/polyglot/x/trial-1 results/s1/aider/m/polyglot/x/trial-1
          cab compare --sweep nightly pi:gpt-4o aider:gpt-4o
        """
        from .. import compare as _compare

        if sweep_id:
            from .sweep import _sweep_rows

            rows, _ = _sweep_rows(results, sweep_id)
            data = _compare.compare_groups(rows, _parse_group(a), _parse_group(b))
        else:
            data = _compare.compare_cells(_one_cell(results, a), _one_cell(results, b))
        if as_json:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            click.echo("\n".join(render(data, diffs=diffs)))
