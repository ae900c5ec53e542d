"""Writing the static report site: Jinja2 templates, our own CSS and JS, no build step.

``build_site(results, out)`` reads every cell below ``results`` twice: a first pass
keeps one small row per cell (what the leaderboard, the matrix and the related links
need), a second pass renders each cell page from its full record and forgets it, so
memory stays flat however large the sweep.  Layout of ``out``::

    index.html                                  the sweeps
    sweeps/<sweep>/index.html                   leaderboard, plots, comparisons, matrix, badges
    cells/<sweep>/<adapter>/<model...>/<task...>/trial-<n>/index.html (+ the cell's files)
    badges/cells/....svg, badges/groups/<sweep>/<adapter>/<model...>.svg
    static/                                     style.css, cab.js, player.js, trace.js

Safety: autoescape is on for every template; data for scripts travels as JSON in a
``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped; every
page carries a Content-Security-Policy that allows only the site's own scripts; and
every file written goes through the :class:`~cab_core.secrets.Scrubber` once more.

This module holds the build itself (two passes, forked workers for a large sweep); the
pages are written by :mod:`.sweep_page` and :mod:`.cell_page`, files by :mod:`.writer`,
and the template environment is :mod:`.templating`'s (their names are re-exported here).
"""

from __future__ import annotations

import datetime as _dt
import html
import multiprocessing
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Optional, Sequence

import attrs

from ..errors import CabError
from ..models import Scorer
from ..secrets import Redactor, Scrubber
from . import axes
from .cell_page import RELATED_TASKS, cell_jobs, related_links, render_cell  # noqa: F401 (re-exported)
from .load import OUTCOMES, CellRef, describe_error, load_refs, read_ref
from .sweep_page import BOOTSTRAP_RESAMPLES, render_sweep  # noqa: F401 (re-exported)
from .templating import STATIC, TEMPLATES, href, json_script, make_env  # noqa: F401 (re-exported)
from .writer import SiteWriter

#: The file that marks a folder as a cab report (so a rebuild may replace it).
MARKER = ".cab-report"


@attrs.define
class SiteResult:
    """What ``build_site`` wrote."""

    out: Path
    cells: int = 0
    sweeps: list = attrs.Factory(list)
    pages: int = 0
    seconds: float = 0.0
    errors: list = attrs.Factory(list)

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


class Site:
    """One report build (see :func:`build_site`)."""

    def __init__(self, results: Path, out: Path, *, base_url: Optional[str] = None,
                 redactor: Optional[Redactor] = None, title: str = "cab report", jobs: int = 0,
                 scorers: Optional[Sequence[Scorer]] = None):
        self.scorers = list(scorers) if scorers is not None else axes.load_scorers()
        self.results = Path(results)
        self.out = Path(out)
        self.base_url = (base_url.rstrip("/") + "/") if base_url else ""
        self.scrubber = Scrubber(redactor)
        self.writer = SiteWriter(self.out, self.scrubber)
        self.env = make_env()
        self.title = title
        self.jobs = jobs
        self.generated = _now()

    # ------------------------------------------------------------------ helpers
    def render(self, template: str, **context) -> str:
        return self.env.get_template(template).render(generated=self.generated, site_title=self.title, **context)

    def embed(self, badge_parts: tuple[str, ...], page_parts: tuple[str, ...], alt: str, page_file: str = "index.html") -> dict:
        """Markdown and HTML snippets for a badge, absolute when a base URL was given."""
        img = self.base_url + href(badge_parts[:-1], badge_parts[-1])
        link = self.base_url + href(page_parts, page_file)
        alt_md = alt.replace("[", "(").replace("]", ")")
        return {
            "markdown": f"[![{alt_md}]({img})]({link})",
            "html": f'<a href="{html.escape(link)}"><img src="{html.escape(img)}" alt="{html.escape(alt)}"></a>',
            "absolute": bool(self.base_url),
        }

    # ------------------------------------------------------------------ build
    def build(self) -> SiteResult:
        t0 = time.perf_counter()
        result = SiteResult(out=self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self._copy_static()
        refs = load_refs(self.results, self.scrubber, exclude=self.out, errors=result.errors,
                              reader=self._parallel_reader())
        result.errors[:] = [(self.scrubber.text(path), self.scrubber.text(error)) for path, error in result.errors]
        by_sweep: dict[str, list[CellRef]] = defaultdict(list)
        for ref in refs:
            by_sweep[ref.row["sweep"]].append(ref)
        summaries = []
        for sweep in sorted(by_sweep):
            summaries.append(self._sweep(sweep, by_sweep[sweep], result.errors))
        work = [job for sweep in sorted(by_sweep) for job in self._cell_jobs(by_sweep[sweep])]
        self._render_cells(work)
        self.writer.text((), "index.html", self.render(
            "index.html.j2", root="", sweeps=summaries, errors=result.errors, results=str(self.results),
            cells=len(refs)))
        self.writer.prune("cells", "sweeps", "badges")
        result.cells = len(refs)
        result.sweeps = sorted(by_sweep)
        result.pages = self.writer.pages
        result.seconds = time.perf_counter() - t0
        return result

    def _copy_static(self) -> None:
        target = self.out / "static"
        target.mkdir(parents=True, exist_ok=True)
        for path in STATIC.iterdir():
            if path.is_file():
                shutil.copyfile(path, target / path.name)

    def _sweep(self, sweep: str, refs: list[CellRef], errors: list) -> dict:
        return render_sweep(self, sweep, refs, errors)

    def _cell_jobs(self, refs: list[CellRef]) -> list[tuple]:
        return cell_jobs(refs)

    def _cell(self, ref: CellRef, by_task, by_group_category) -> None:
        render_cell(self, ref, by_task, by_group_category)

    def _workers(self, count: int) -> int:
        """How many forked workers a pass over ``count`` cells gets (0: do it in this process)."""
        jobs = self.jobs if self.jobs else (os.cpu_count() or 1)
        if jobs <= 1 or count < PARALLEL_MIN:
            return 0
        try:
            multiprocessing.get_context("fork")
        except ValueError:  # no fork on this platform
            return 0
        return min(jobs, 8)

    def _parallel_reader(self):
        """A ``load_refs`` reader that spreads the first pass over forked workers (None: read here)."""
        site = self

        def reader(folders):
            workers = site._workers(len(folders))
            if not workers:
                for folder in folders:
                    try:
                        yield read_ref(folder, site.scrubber)
                    except Exception as exc:
                        yield describe_error(exc)
                return
            global _WORK
            _WORK = (site, folders)
            try:
                with multiprocessing.get_context("fork").Pool(workers) as pool:
                    chunk = max(1, len(folders) // (workers * 4))
                    yield from pool.imap(_read_one, range(len(folders)), chunksize=chunk)
            finally:
                _WORK = None

        return reader

    def _render_cells(self, work: list[tuple]) -> None:
        """Write every cell page: in ``jobs`` forked workers for a large sweep, else here."""
        global _WORK
        workers = self._workers(len(work))
        if not workers:
            for job in work:
                self._cell(*job)
            return
        _WORK = (self, work)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for written, pages in pool.imap_unordered(_render_slice, [(i, workers) for i in range(workers)]):
                    self.writer.written |= written
                    self.writer.pages += pages
        finally:
            _WORK = None


#: Below this many cells the pages are written in-process; above it, by forked workers.
PARALLEL_MIN = 200
_WORK: Optional[tuple] = None


def _read_one(index: int):
    """A forked worker reads one cell of the first pass: its CellRef, or why it could not."""
    site, folders = _WORK  # type: ignore[misc]  (set by the parent before forking)
    try:
        return read_ref(folders[index], site.scrubber)
    except Exception as exc:
        return describe_error(exc)


def _render_slice(task: tuple[int, int]) -> tuple[set, int]:
    """A forked worker's share of the cell pages: every ``n``-th job from ``i``; returns what it wrote."""
    i, n = task
    site, work = _WORK  # type: ignore[misc]  (set by the parent before forking)
    site.writer.written, site.writer.pages = set(), 0
    for job in work[i::n]:
        site._cell(*job)
    return site.writer.written, site.writer.pages


def build_site(results: Path, out: Path, *, base_url: Optional[str] = None, redactor: Optional[Redactor] = None,
               title: str = "cab report", jobs: int = 0, scorers: Optional[Sequence[Scorer]] = None) -> SiteResult:
    """Write the static report of every cell below ``results`` into ``out`` and say what was written.

    ``base_url`` makes the badge embed snippets absolute; ``redactor`` masks secrets (default: this
    process's secret-looking environment values and key shapes); ``jobs`` is how many processes write
    cell pages for a large sweep (0: one per CPU, 1: none forked); ``scorers`` are the axis records the
    pages render from, in order (default: the scorers registered in this environment).
    """
    results, out = Path(results), Path(out)
    try:
        inside = out.resolve() == results.resolve() or results.resolve() in out.resolve().parents
    except OSError:
        inside = False
    if inside:
        raise CabError(f"--out {out} is inside the results folder {results}; the report's copies would be read "
                       "as cells (choose a folder outside it, e.g. --out report)")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise CabError(f"--out {out} exists and is not a cab report; choose an empty or new folder")
        # An earlier report is overwritten in place and its leftovers pruned after (faster than deleting it first).
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by cab report; the folder may be replaced by the next report\n")
    return Site(results, out, base_url=base_url, redactor=redactor, title=title, jobs=jobs, scorers=scorers).build()


__all__ = ["build_site", "SiteResult", "json_script", "make_env", "OUTCOMES", "MARKER"]
