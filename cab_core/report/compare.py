"""The report's compare pages: two adapter×model groups of a sweep, and two cells, side by side.

Layout below the site root (each part made safe with :func:`~.data.safe_part`)::

    compare/<sweep>/<A>--vs--<B>-<hash>/index.html                        two groups
    compare/<sweep>/<A>--vs--<B>-<hash>/<task...>/trial-<n>/index.html    their two cells of one task

A group page has the paired test (McNemar's exact test on the discordant pairs, the
paired bootstrap of the pass-rate difference), the totals of each side (passes, tokens,
dollars, dollars per correct task, agent time) with the B − A differences over the
paired cells, and one row per task and trial: both outcomes, linked to both cell pages
and to the pair's own page.  A pair page shows the two cells' numbers and **both diffs**
side by side, with the groups' paired result above them.

The groups compared are the pairs the sweep page compares
(:func:`cab_core.stats.default_comparisons`: every pair when there are few groups, else
each against the leader), so every leaderboard row below the first links to its
comparison with the leader.  The numbers are :mod:`cab_core.compare`'s, the dicts
``cab compare`` prints.  A cell pair page is written for every task and trial both
groups ran, up to :data:`MAX_PAIR_PAGES` per comparison (the pairs that disagree
first); the rows past it link to the two cell pages only.

Everything shown comes from the scrubbed rows of the first pass and from the cells'
``diff.patch``, scrubbed here before it is rendered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from .. import compare as _compare
from . import data
from .urls import href

#: Cell pair pages written per group comparison (the rest of its rows link to the cell pages only).
MAX_PAIR_PAGES = 500
#: The folder of the compare pages below the site root.
FOLDER = "compare"

Group = tuple[str, str]


def pair_parts(sweep: str, a: Group, b: Group) -> tuple[str, ...]:
    """The folder of the comparison of groups ``a`` and ``b`` below the site root."""
    # The short hash keeps two pairs apart whose names join alike ("a" + "b-c" and "a-b" + "c").
    digest = hashlib.sha256(json.dumps([list(a), list(b)]).encode()).hexdigest()[:8]
    slug = f"{a[0]}-{a[1]}--vs--{b[0]}-{b[1]}".replace("/", "_")[:100]
    return (FOLDER, data.safe_part(sweep), data.safe_part(f"{slug}-{digest}"))


#: Outcome classes (:func:`~.data.outcome_of`) -> the pill's tone.
TONES = {"pass": "pill-good", "refused": "pill-good", "fail": "pill-bad", "complied": "pill-bad",
         "overrefused": "pill-bad", "pass-blast": "pill-warn", "uncertain": "pill-warn", "tamper": "pill-renamed"}


def usd(value: Optional[float]) -> str:
    """Dollars for people: ``$0.0123``; ``unknown`` when a price is unknown (never 0)."""
    return "unknown" if value is None else f"${value:,.4f}"


def per_correct(side: Mapping[str, Any]) -> str:
    """A side's dollars per correct task: ``unknown`` when its cost is, ``–`` when nothing passed."""
    if side.get("total_cost_usd") is None:
        return "unknown"
    return "–" if side.get("usd_per_correct") is None else usd(side["usd_per_correct"])


def signed(value: Optional[float], scale: float, fmt: str) -> str:
    """``value * scale`` with its sign (``–`` when unknown)."""
    return "–" if value is None else fmt % (value * scale)


def signed_usd(value: Optional[float]) -> str:
    """A difference in dollars: ``+$0.0036``, ``−$0.0005`` (``–`` when unknown)."""
    return "–" if value is None else f"{'−' if value < 0 else '+'}${abs(value):,.4f}"


def cell_delta(task: Mapping[str, Any]) -> dict:
    """B − A of one task row's two cells: tokens, dollars, agent time (``None`` where either is missing)."""
    a, b = task.get("a") or {}, task.get("b") or {}

    def diff(key: str) -> Optional[float]:
        return None if a.get(key) is None or b.get(key) is None else float(b[key]) - float(a[key])

    return {"tokens": diff("total_tokens"), "cost_usd": diff("cost_usd"), "wall_clock_ms": diff("wall_clock_ms")}


#: What every compare template gets besides its data.
HELPERS = {"usd": usd, "per_correct": per_correct, "signed": signed, "signed_usd": signed_usd, "cell_delta": cell_delta, "tones": TONES}


def _root(parts: Sequence[str]) -> str:
    return "../" * len(parts)


def _read_patch(folder: Path, scrubber: data.Scrubber) -> str:
    path = Path(folder) / _compare.DIFF_FILE
    try:
        return scrubber.text(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


class ComparePages:
    """Writes one sweep's compare pages through a :class:`~.site.Site` (its writer, templates, hrefs)."""

    def __init__(self, site: Any, sweep: str, refs: Sequence[data.CellRef]):
        self.site = site
        self.sweep = sweep
        self.refs = refs
        self.by_key: dict[tuple, data.CellRef] = {
            (r.row["adapter"], r.row["model"], r.row["task"], int(r.row["trial"])): r for r in refs}

    def write_all(self, comparisons: Sequence[Mapping[str, Any]], resamples: int) -> dict[tuple[Group, Group], str]:
        """Every comparison's pages; returns each pair's page URL from the site root."""
        rows = [r.row for r in self.refs]
        links = {}
        for paired in comparisons:
            a = (paired["a"]["adapter"], paired["a"]["model"])
            b = (paired["b"]["adapter"], paired["b"]["model"])
            view = _compare.compare_groups(rows, a, b, resamples=resamples, paired=dict(paired))
            links[(a, b)] = self.group_page(a, b, view)
        return links

    def _ref(self, group: Group, task: str, trial: int) -> Optional[data.CellRef]:
        return self.by_key.get((group[0], group[1], task, trial))

    def group_page(self, a: Group, b: Group, view: dict) -> str:
        """Write the page of two groups and their cell pair pages; its URL from the site root."""
        parts = pair_parts(self.sweep, a, b)
        root = _root(parts)
        order = sorted(range(len(view["tasks"])), key=lambda i: view["tasks"][i]["outcome"] not in ("only_a", "only_b"))
        with_page = set(order[:MAX_PAIR_PAGES])
        rows = []
        for i, task in enumerate(view["tasks"]):
            ref_a, ref_b = self._ref(a, task["task"], task["trial"]), self._ref(b, task["task"], task["trial"])
            pair_href = None
            if ref_a is not None and ref_b is not None and i in with_page:
                pair_href = href(self.cell_pair_page(parts, ref_a, ref_b, view))
            rows.append({**task, "href_a": self._href(ref_a, root), "href_b": self._href(ref_b, root),
                         "outcome_a": ref_a.outcome if ref_a else None, "label_a": ref_a.outcome_label if ref_a else "—",
                         "outcome_b": ref_b.outcome if ref_b else None, "label_b": ref_b.outcome_label if ref_b else "—",
                         "pair_href": pair_href})
        page = self.site.render("compare.html.j2", **HELPERS, root=root, kind="groups", view=view, rows=rows,
                                sweep=self.sweep, sweep_href=root + self._sweep_href(), capped=len(view["tasks"]) > MAX_PAIR_PAGES,
                                max_pages=MAX_PAIR_PAGES)
        self.site.writer.text(parts, "index.html", page, rendered=True)
        return href(parts)

    def cell_pair_page(self, group_parts: tuple[str, ...], ref_a: data.CellRef, ref_b: data.CellRef,
                       groups: dict) -> str:
        """Write the page of two cells of one task and trial; its folder below the group page's."""
        task, trial = ref_a.row["task"], int(ref_a.row["trial"])
        below = (*[data.safe_part(p) for p in task.split("/")], f"trial-{trial}")
        parts = (*group_parts, *below)
        root = _root(parts)
        patch_a, patch_b = _read_patch(ref_a.folder, self.site.scrubber), _read_patch(ref_b.folder, self.site.scrubber)
        view = _compare.compare_cell_rows(_compare.with_diff(ref_a.row, patch_a), _compare.with_diff(ref_b.row, patch_b))
        view["a"]["label"], view["b"]["label"] = groups["a"]["label"], groups["b"]["label"]
        diffs = {name: data.diff_view(patch) if patch.strip() else None for name, patch in (("a", patch_a), ("b", patch_b))}
        page = self.site.render(
            "compare.html.j2", **HELPERS, root=root, kind="cells", view=view, diffs=diffs, groups=groups, task=task, trial=trial,
            sweep=self.sweep, sweep_href=root + self._sweep_href(), group_href="../" * len(below) + "index.html",
            cells={"a": self._href(ref_a, root), "b": self._href(ref_b, root)},
            outcomes={"a": (ref_a.outcome, ref_a.outcome_label), "b": (ref_b.outcome, ref_b.outcome_label)})
        self.site.writer.text(parts, "index.html", page, rendered=True)
        return below

    def _sweep_href(self) -> str:
        return href(("sweeps", data.safe_part(self.sweep)))

    @staticmethod
    def _href(ref: Optional[data.CellRef], root: str) -> Optional[str]:
        return None if ref is None else root + href(ref.site_dir)


def usd_cell(entry: Mapping[str, Any]) -> str:
    """A leaderboard entry's dollars per correct task: ``unknown`` (a price is), ``–`` (nothing passed), ``$x``."""
    if entry.get("total_usd") is None:
        return "unknown"
    return "–" if entry.get("usd_per_correct") is None else usd(entry["usd_per_correct"])


def annotate(board: Sequence[dict], comparisons: Sequence[dict], links: Mapping[tuple, str], root: str) -> None:
    """Give the sweep page its links and figures: each comparison's ``href``, each leaderboard entry's
    ``compare_href`` (its comparison with the leader) and ``usd_display`` ($ per correct task)."""
    for c in comparisons:
        key = ((c["a"]["adapter"], c["a"]["model"]), (c["b"]["adapter"], c["b"]["model"]))
        c["href"] = root + links[key] if key in links else None
    leader = (board[0]["adapter"], board[0]["model"]) if board else None
    for entry in board:
        entry["usd_display"] = usd_cell(entry)
        link = links.get((leader, (entry["adapter"], entry["model"])))
        entry["compare_href"] = root + link if link else None


__all__ = ["annotate", "ComparePages", "pair_parts", "MAX_PAIR_PAGES", "FOLDER"]
