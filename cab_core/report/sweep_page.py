"""Writing one sweep's page: leaderboard with a column per axis, comparisons, plots, matrix, badges.

The columns come from the scorer records (:mod:`.axes`), so a third party's axis gets
its column like a built-in one; the statistics are :mod:`cab_core.stats`'s, bootstrapped
with fewer resamples above 200 tasks so the report stays quick.
"""

from __future__ import annotations

from typing import Any

from .. import badges, stats
from . import axes, plots
from .format import fmt_pct
from .load import OUTCOMES, CellRef, safe_part
from .sweep_view import group_label, latency_samples, manifest_rows, matrix_view, read_manifest, sweep_command, sweep_span
from .templating import href

#: Comparisons are bootstrapped; above this many tasks fewer resamples keep the report quick.
BOOTSTRAP_RESAMPLES = 2000


def root_of(depth: int) -> str:
    """The relative URL of the site root from a page ``depth`` folders down."""
    return "../" * depth


def render_sweep(site: Any, sweep: str, refs: list[CellRef], errors: list) -> dict:
    """Write one sweep's page for ``site`` (the :class:`~.site.Site` being built) and return its summary."""
    rows = [r.row for r in refs]
    records = axes.records_for(site.scorers, {a for r in rows for a in (r.get("axes") or {})})
    board = stats.leaderboard(rows, records)
    max_tasks = max((e["tasks"] for e in board), default=0)
    resamples = BOOTSTRAP_RESAMPLES if max_tasks <= 200 else 500
    comparisons = [stats.compare(rows, a, b, resamples=resamples)
                   for a, b in stats.default_comparisons(board)]
    sweep_parts = ("sweeps", safe_part(sweep))
    depth = len(sweep_parts)
    root = root_of(depth)
    for i, entry in enumerate(board):
        entry["series"] = plots.series_class(i)
        entry["label"] = group_label(entry["adapter"], entry["model"])
        parts = ("badges", "groups", safe_part(sweep), safe_part(entry["adapter"]),
                 *[safe_part(p) for p in entry["model"].split("/")])
        badge_parts = (*parts[:-1], parts[-1] + ".svg")
        svg = badges.group_badge(entry)
        site.writer.text(badge_parts[:-1], badge_parts[-1], svg)
        entry["badge"] = root + href(badge_parts[:-1], badge_parts[-1])
        entry["embed"] = site.embed(badge_parts, sweep_parts, f"CodingAgentBench: {entry['label']} "
                                    f"{fmt_pct(entry['pass_rate'])}")
        k = entry["trials"]
        entry["k"] = k
        entry["pass_at_k_top"] = entry["pass_at_k"].get(k) if k else None
        entry["pass_hat_k_top"] = entry["pass_hat_k"].get(k) if k else None
        entry["columns"] = [axes.column_cell(s, entry) for s in records]
    for ref in refs:
        ref.href = href(ref.site_dir)
        ref.row["href"] = root + ref.href
    matrix = matrix_view(refs, board)
    samples = latency_samples(refs)
    scored = [r for r in rows if r.get("status") == "ok"]
    passes = sum(1 for r in scored if r.get("passed"))
    start, end = sweep_span(refs)
    manifest = read_manifest(site.results, sweep, site.scrubber)
    summary = {
        "sweep": sweep, "href": href(sweep_parts), "cells": len(rows), "scored": len(scored),
        "infra": len(rows) - len(scored), "passes": passes,
        "pass_rate": passes / len(scored) if scored else None,
        "groups": len(board), "tasks": len({r["task"] for r in rows}), "start": start, "end": end,
        "leader": board[0] if board else None, "columns": axes.columns(records), "board": board,
    }
    widest = max([abs(v) for c in comparisons for v in (c["delta_ci_low"], c["delta_ci_high"]) if v is not None]
                 or [1.0])
    page = site.render(
        "sweep.html.j2", root=root, sweep=summary, board=board, comparisons=comparisons, matrix=matrix,
        delta_scale=58 / max(widest, 0.05),
        forest=plots.forest(board), scatter=plots.tokens_vs_pass(board), latency=plots.latency(board, samples),
        manifest=manifest_rows(manifest) if manifest else None, outcomes=OUTCOMES,
        sweep_command=sweep_command(manifest) if manifest else None,
        errors=[e for e in errors if sweep in e[0]],
    )
    site.writer.text(sweep_parts, "index.html", page, rendered=True)
    return summary
