"""Writing one cell's page: its axis cards, trace, model calls, terminal, diff, files and links.

Every text the page shows is masked before it is rendered; the page itself then only
gets the writer's last exact-value pass.  An artefact is read only from the cell's own
folder by a plain name (a record naming ``../x`` gets nothing).  The links go to the
cells a reader compares this one with: other adapters, models and trials on the same
task, and other tasks of the same category.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .. import badges
from ..ansi import strip_ansi
from ..results import CELL_FILE
from . import axes
from .cell_view import breakdown_rows, calls_view, cast_view, identity_rows, reproduce, trace_view
from .diff import diff_view
from .format import agent_tokens_line, clip, fmt_time
from .load import ARTIFACTS, OUTCOMES, CellRef, read_result, safe_part
from .sweep_page import root_of
from .templating import href
from .writer import read_text

#: How many other tasks of the same category a cell page links to (the sweep page has them all).
RELATED_TASKS = 12


def cell_jobs(refs: list[CellRef]) -> list[tuple]:
    """One ``(ref, by_task, by_group_category)`` per cell of a sweep: what its page needs from the others."""
    by_task: dict[str, list[CellRef]] = defaultdict(list)
    by_group_category: dict[tuple, list[CellRef]] = defaultdict(list)
    for ref in refs:
        r = ref.row
        by_task[r["task"]].append(ref)
        by_group_category[(r["adapter"], r["model"], r["task"].split("/", 1)[0], r["trial"])].append(ref)
    return [(ref, by_task, by_group_category) for ref in refs]


def related_links(ref: CellRef, by_task, by_group_category, root: str) -> dict:
    """Links to the cells a reader compares this one with (same sweep only)."""
    r = ref.row

    def link(other: CellRef, label: str) -> dict:
        return {"href": root + other.href, "label": label, "outcome": other.outcome, "title": other.outcome_label}

    def trial(o: CellRef) -> str:
        return f" #{o.row['trial']}" if o.row["trial"] > 1 else ""

    same_task = [o for o in by_task[r["task"]] if o is not ref]
    other_adapters = [link(o, f"{o.row['adapter']} × {o.row['model']}{trial(o)}")
                      for o in same_task if o.row["model"] == r["model"] and o.row["adapter"] != r["adapter"]]
    other_models = [link(o, o.row["model"] + trial(o))
                    for o in same_task if o.row["adapter"] == r["adapter"] and o.row["model"] != r["model"]]
    other_trials = [link(o, f"trial {o.row['trial']}") for o in same_task
                    if o.row["adapter"] == r["adapter"] and o.row["model"] == r["model"]]
    category = r["task"].split("/", 1)[0]
    peers = by_group_category[(r["adapter"], r["model"], category, r["trial"])]
    other_tasks = [link(o, o.row["task"]) for o in peers[:RELATED_TASKS + 1] if o is not ref][:RELATED_TASKS]
    return {"adapters": other_adapters[:24], "models": other_models[:24], "trials": other_trials[:24],
            "tasks": other_tasks, "category": category, "more_tasks": max(0, len(peers) - 1 - len(other_tasks))}


def render_cell(site: Any, ref: CellRef, by_task, by_group_category) -> None:
    """Write one cell's page, its badge and its files for ``site`` (the :class:`~.site.Site` being built).

    Skipped when the record changed underneath since the first pass."""
    folder = ref.folder
    texts = {name: read_text(folder / name) for name in ARTIFACTS if (folder / name).is_file()}
    try:
        result, record = read_result(folder, site.scrubber, texts.get(CELL_FILE))
    except Exception:  # read fine in the first pass; changed underneath us: skip, do not crash the site
        return
    # Every text the page shows is masked here; the page itself then only gets the last exact-value pass.
    cleaned = {name: (record if name == CELL_FILE else site.scrubber.text(text)) for name, text in texts.items()}
    depth = len(ref.site_dir)
    root = root_of(depth)
    files = {name: site.writer.copy(ref.site_dir, name, folder / name, text, cleaned.get(name)).name
             for name, text in texts.items()}

    def artefact(key: str, default: str) -> str:
        name = result.files.get(key, default)
        if name in cleaned:
            return cleaned[name]
        # Only a file of the cell's own folder, by a plain name: never a path out of it.
        if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name:
            return ""
        return site.scrubber.text(read_text(folder / name))

    cast_text = artefact("terminal", "terminal.cast")
    cast = cast_view(cast_text, site.scrubber) if cast_text else None
    patch = artefact("diff", "diff.patch")
    agent_output = strip_ansi(artefact("agent_output", "agent_output.txt"))
    test_output = strip_ansi(artefact("test_output", "test_output.txt"))
    ident = result.identity
    cell_badge = badges.cell_badge(ref.row)
    badge_parts = ("badges", *ref.site_dir[:-1], ref.site_dir[-1] + ".svg")
    site.writer.text(badge_parts[:-1], badge_parts[-1], cell_badge)
    sweep_parts = ("sweeps", safe_part(ident.sweep))
    alt = f"CodingAgentBench: {ident.adapter} × {ident.model} on {ident.task}: {ref.outcome_label}"
    total_tokens = sum(c.total_tokens for c in result.model_calls)
    page = site.render(
        "cell.html.j2", root=root, r=result, ident=ident, ref=ref,
        cards=axes.axis_cards(result, site.scorers), composite_parts=axes.composite_parts(result, site.scorers),
        warnings=axes.token_warnings(result),
        identity=identity_rows(result), trace=trace_view(result), calls=calls_view(result),
        diff=diff_view(patch) if patch.strip() else None,
        cast=cast, agent_output=clip(agent_output), test_output=clip(test_output),
        final_output=clip(strip_ansi(result.final_output)), final_screen=strip_ansi(result.final_screen), breakdown=breakdown_rows(result, site.scorers),
        repro=reproduce(result), files=files, total_tokens=total_tokens,
        agent_tokens=agent_tokens_line(result.agent_tokens),
        started=fmt_time(result.started_at), ended=fmt_time(result.ended_at),
        sweep_href=root + href(sweep_parts), related=related_links(ref, by_task, by_group_category, root),
        badge=root + href(badge_parts[:-1], badge_parts[-1]),
        embed=site.embed(badge_parts, ref.site_dir, alt), outcomes=OUTCOMES,
    )
    site.writer.text(ref.site_dir, "index.html", page, rendered=True)
