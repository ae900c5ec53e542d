"""Two runs side by side: two cells, or two adapter×model groups of a sweep.

``cab compare`` prints what these functions return, and the report's compare pages
can render the same dicts.  Both work on the flat rows of :func:`cab_core.index.cell_row`
(one per cell, the index's ``cells`` table), so a cell pair and a group pair have one
shape:

- ``side(rows)`` → per side: ``label``, cells, scored, passes, pass rate, total tokens,
  total cost (``None`` when any cell's price is unknown: never 0), median agent time;
- ``tasks``: one entry per (task, trial) either side ran, ``a``/``b`` the cell
  (``passed``, ``status``, ``composite``, ``total_tokens``, ``cost_usd``,
  ``wall_clock_ms``, ``cell_id``, ``path``) or ``None``, and ``outcome``: ``both``,
  ``only_a``, ``only_b``, ``neither`` (both scored), or ``unpaired`` (a side missing
  or an infrastructure error: never counted as the agent failing);
- ``delta``: B − A of tokens, cost and agent time over the paired cells (means), and
  of the pass rate;
- ``paired`` (groups only): :func:`cab_core.stats.compare`, McNemar's exact test on
  the discordant pairs and the paired bootstrap over tasks.

:func:`compare_cells` adds each cell's ``diff`` (its ``diff.patch``) and the files it
changed, for the "both diffs" view.  Nothing here prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from . import stats
from .errors import CabError, one_line

Row = Mapping[str, Any]
DIFF_FILE = "diff.patch"


def _cost(row: Row) -> Optional[float]:
    value = row.get("cost_usd")
    return None if value is None else float(value)


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    """Mean of the values; ``None`` when there are none or any is unknown."""
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def side(rows: Sequence[Row], label: str) -> dict:
    """The totals of one side (see the module docstring)."""
    scored = [r for r in rows if r.get("status") == "ok"]
    passes = sum(1 for r in scored if r.get("passed"))
    costs = [_cost(r) for r in scored]
    return {
        "label": label,
        "cells": len(rows),
        "scored": len(scored),
        "infra_errors": len(rows) - len(scored),
        "passes": passes,
        "pass_rate": passes / len(scored) if scored else None,
        "total_tokens": sum(int(r.get("total_tokens") or 0) for r in scored),
        "total_cost_usd": None if not costs or any(c is None for c in costs) else sum(costs),
        "median_wall_clock_ms": stats.quantile([r["wall_clock_ms"] for r in scored if r.get("wall_clock_ms") is not None], 0.5),
    }


def _cell(row: Optional[Row]) -> Optional[dict]:
    if row is None:
        return None
    keys = ("cell_id", "status", "passed", "composite", "total_tokens", "cost_usd", "wall_clock_ms", "duration_s", "path")
    out = {k: row.get(k) for k in keys}
    out["passed"] = None if row.get("passed") is None else bool(row["passed"])
    return out


def _outcome(a: Optional[Row], b: Optional[Row]) -> str:
    if a is None or b is None or a.get("status") != "ok" or b.get("status") != "ok":
        return "unpaired"
    pa, pb = bool(a.get("passed")), bool(b.get("passed"))
    return "both" if pa and pb else "only_a" if pa else "only_b" if pb else "neither"


def _deltas(pairs: Sequence[tuple[Row, Row]]) -> dict:
    """B − A over paired scored cells: mean tokens, cost and agent time; pass rate difference."""
    n = len(pairs)

    def diff(key, cast=float):
        values = []
        for a, b in pairs:
            if a.get(key) is None or b.get(key) is None:
                values.append(None)
            else:
                values.append(cast(b[key]) - cast(a[key]))
        return _mean(values)

    return {
        "pairs": n,
        "pass_rate": (sum(bool(b.get("passed")) for _, b in pairs) - sum(bool(a.get("passed")) for a, _ in pairs)) / n if n else None,
        "tokens": diff("total_tokens"),
        "cost_usd": diff("cost_usd"),
        "wall_clock_ms": diff("wall_clock_ms"),
    }


def _table(rows_a: Sequence[Row], rows_b: Sequence[Row], *, by_task: bool) -> tuple[list[dict], list[tuple[Row, Row]]]:
    def key(r):
        return (r["task"], int(r.get("trial") or 1)) if by_task else ("", 1)

    index_a = {key(r): r for r in rows_a}
    index_b = {key(r): r for r in rows_b}
    table, pairs = [], []
    for k in sorted(set(index_a) | set(index_b)):
        a, b = index_a.get(k), index_b.get(k)
        outcome = _outcome(a, b)
        if outcome != "unpaired":
            pairs.append((a, b))
        table.append({"task": (a or b)["task"], "trial": k[1], "a": _cell(a), "b": _cell(b), "outcome": outcome})
    return table, pairs


def compare_rows(rows_a: Sequence[Row], rows_b: Sequence[Row], label_a: str, label_b: str, *, by_task: bool = True) -> dict:
    """Side-by-side comparison of two sets of rows, paired by (task, trial) (see the module docstring)."""
    table, pairs = _table(rows_a, rows_b, by_task=by_task)
    counts = {o: sum(1 for t in table if t["outcome"] == o) for o in ("both", "only_a", "only_b", "neither", "unpaired")}
    return {"a": side(rows_a, label_a), "b": side(rows_b, label_b), "tasks": table, "counts": counts,
            "delta": _deltas(pairs)}


def compare_groups(rows: Sequence[Row], a: tuple[str, str], b: tuple[str, str], *, resamples: int = 2000) -> dict:
    """Two adapter×model groups of one sweep's rows, with the paired test (McNemar, bootstrap)."""
    groups = {g: [r for r in rows if stats.group_key(r) == g] for g in (a, b)}
    known = sorted({stats.group_key(r) for r in rows})
    for g in (a, b):
        if not groups[g]:
            names = ", ".join(f"{x}:{y}" for x, y in known) or "none"
            raise CabError(f"no cells of {g[0]}:{g[1]} in this sweep (groups: {names})")
    if a == b:
        raise CabError(f"compare two different groups ({a[0]}:{a[1]} was given twice)")
    out = compare_rows(groups[a], groups[b], f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}")
    out["kind"] = "groups"
    out["paired"] = stats.compare(rows, a, b, resamples=resamples)
    return out


def changed_files(patch: str) -> list[str]:
    """Files a git patch touches, in its order."""
    files = []
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            name = line.split(" b/", 1)[-1] if " b/" in line else line.split()[-1]
            if name not in files:
                files.append(name)
    return files


def cell_row_of(folder: Path) -> dict:
    """The index row of the cell in ``folder``, plus its diff and changed files."""
    from .index import cell_row
    from .results import read_cell

    try:
        result = read_cell(folder)
    except Exception as exc:  # not a cell record: the user's file, one line
        raise CabError(f"cannot read cell {folder}: {one_line(exc, bare=True)}") from None
    row = cell_row(result, str(folder))
    patch_file = Path(folder) / DIFF_FILE
    row["diff"] = patch_file.read_text(encoding="utf-8", errors="replace") if patch_file.is_file() else ""
    row["changed_files"] = changed_files(row["diff"])
    row["model_calls"] = len(result.model_calls)
    return row


def compare_cells(folder_a: Path, folder_b: Path) -> dict:
    """Two cells side by side (any two: other tasks, sweeps, agents), with both diffs."""
    a, b = cell_row_of(folder_a), cell_row_of(folder_b)
    out = compare_rows([a], [b], a["cell_id"], b["cell_id"], by_task=False)
    out["kind"] = "cells"
    out["tasks"][0]["task"] = a["task"] if a["task"] == b["task"] else f"{a['task']} | {b['task']}"
    for name, row in (("a", a), ("b", b)):
        out[name].update(cell_id=row["cell_id"], path=row["path"], diff=row["diff"], changed_files=row["changed_files"],
                         model_calls=row["model_calls"], composite=row.get("composite"), duration_s=row.get("duration_s"),
                         status=row.get("status"), error=row.get("error"))
    return out


__all__ = ["side", "compare_rows", "compare_groups", "compare_cells", "cell_row_of", "changed_files"]
