"""Writing the static report site: Jinja2 templates, our own CSS and JS, no build step.

``build_site(results, out)`` reads every cell below ``results`` twice: a first pass
keeps one small row per cell (what the leaderboard, the matrix and the related links
need), a second pass renders each cell page from its full record and forgets it, so
memory stays flat however large the sweep.  Layout of ``out``::

    index.html                                  the sweeps
    sweeps/<sweep>/index.html                   leaderboard, plots, comparisons, matrix, badges
    compare/<sweep>/<A>--vs--<B>/...            two groups, and their cells, side by side (report/compare.py)
    cells/<sweep>/<adapter>/<model...>/<task...>/trial-<n>/index.html (+ the cell's files)
    badges/cells/....svg, badges/groups/<sweep>/<adapter>/<model...>.svg
    static/                                     style.css, cab.js, player.js, trace.js

Safety: autoescape is on for every template; data for scripts travels as JSON in a
``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped; every
page carries a Content-Security-Policy that allows only the site's own scripts; and
every file written goes through the :class:`~cab_core.report.data.Scrubber` once more.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import multiprocessing
import os
import re
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import attrs
import jinja2
from markupsafe import Markup

from .. import badges, stats
from ..models import Scorer
from ..secrets import Redactor
from . import axes, data, plots
from .compare import ComparePages, annotate  # the compare pages (issue 18)
from .urls import href  # noqa: F401  (re-exported: imported from here)

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEMc]")
#: Comparisons are bootstrapped; above this many tasks fewer resamples keep the report quick.
BOOTSTRAP_RESAMPLES = 2000
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


def json_script(value: Any, element_id: str) -> Markup:
    """``value`` as a JSON data block no string inside it can close (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(f'<script type="application/json" id="{html.escape(element_id)}">{text}</script>')


class _Environment(jinja2.Environment):
    """Jinja with ``a.b`` on a plain dict reading the key first (the view data is dicts): the stock
    order tries the attribute first and pays for a failed lookup on every field of every row."""

    def getattr(self, obj, attribute):
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def make_env() -> jinja2.Environment:
    """The template environment: autoescape everywhere, strict undefined, our filters."""
    env = _Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # one build, templates do not change under it: no stat per page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=data.fmt_num, ms=data.fmt_ms, pct=data.fmt_pct, thousands=data.fmt_int, tojson_attr=_json_attr,
        json_script=json_script, ci=plots.interval_bar, series=plots.series_class,
    )
    return env


def _json_attr(value: Any) -> str:
    return json.dumps(value, default=str)


class SiteWriter:
    """Writes files under ``out``, scrubbing every text on the way, and remembers what it wrote."""

    def __init__(self, out: Path, scrubber: data.Scrubber):
        self.out = Path(out)
        self.scrubber = scrubber
        self.pages = 0
        self.written: set[str] = set()
        self._made: set[Path] = set()

    def text(self, parts: Iterable[str], name: str, text: str, *, rendered: bool = False) -> Path:
        """Write ``text`` (scrubbed) to ``out/parts/name``.  A ``rendered`` page was built from scrubbed
        data only, so it gets the cheap last pass (known secret values), not the whole scrubber again."""
        folder = self.out.joinpath(*parts)
        if folder not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)
        path = folder / name
        clean = self.scrubber.exact(text) if rendered else self.scrubber.text(text)
        # Rewriting a file with what it holds already is skipped: a rebuild then costs reads, not
        # truncations (which some file systems make slow), and unchanged pages keep their mtime.
        try:
            same = path.stat().st_size == len(clean.encode("utf-8")) and path.read_text(encoding="utf-8") == clean
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(clean)
        self.written.add(str(path))
        if name.endswith(".html"):
            self.pages += 1
        return path

    def copy(self, parts: Iterable[str], name: str, src: Path, text: str, clean: Optional[str] = None) -> Path:
        """Put a cell's file (whose content is ``text``) beside its page: a hard link when scrubbing
        changes nothing, else the scrubbed text (``clean``, when the caller has it already)."""
        clean = self.scrubber.text(text) if clean is None else clean
        folder = self.out.joinpath(*parts)
        if folder not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)
        path = folder / name
        try:
            old = os.lstat(path)
        except OSError:
            old = None
        if clean != text:
            if old is not None and old.st_nlink > 1:
                os.unlink(path)  # never write through a link into the results
            return self.text(parts, name, clean)
        try:
            source = os.stat(src)
            if old is not None and (old.st_ino, old.st_dev) == (source.st_ino, source.st_dev):
                pass  # linked by an earlier report already
            else:
                if old is not None:
                    os.unlink(path)
                os.link(src, path)
        except OSError:  # another file system, or links not allowed: write a copy
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(clean)
        self.written.add(str(path))
        return path

    def prune(self, *folders: str) -> int:
        """Delete files under ``folders`` this build did not write (an earlier report's leftovers)."""
        removed = 0
        for name in folders:
            top = self.out / name
            if not top.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(top, topdown=False):
                for filename in filenames:
                    path = os.path.join(dirpath, filename)
                    if path not in self.written:
                        os.unlink(path)
                        removed += 1
                if not os.listdir(dirpath):
                    os.rmdir(dirpath)
        return removed


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _root(depth: int) -> str:
    return "../" * depth


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
        self.scrubber = data.Scrubber(redactor)
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
        refs = data.load_refs(self.results, self.scrubber, exclude=self.out, errors=result.errors,
                              reader=self._parallel_reader())
        result.errors[:] = [(self.scrubber.text(path), self.scrubber.text(error)) for path, error in result.errors]
        by_sweep: dict[str, list[data.CellRef]] = defaultdict(list)
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
        self.writer.prune("cells", "sweeps", "badges", "compare")
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

    # ------------------------------------------------------------------ sweep page
    def _sweep(self, sweep: str, refs: list[data.CellRef], errors: list) -> dict:
        rows = [r.row for r in refs]
        records = axes.records_for(self.scorers, {a for r in rows for a in (r.get("axes") or {})})
        board = stats.leaderboard(rows, records)
        max_tasks = max((e["tasks"] for e in board), default=0)
        resamples = BOOTSTRAP_RESAMPLES if max_tasks <= 200 else 500
        comparisons = [stats.compare(rows, a, b, resamples=resamples)
                       for a, b in stats.default_comparisons(board)]
        sweep_parts = ("sweeps", data.safe_part(sweep))
        depth = len(sweep_parts)
        root = _root(depth)
        for i, entry in enumerate(board):
            entry["series"] = plots.series_class(i)
            entry["label"] = data.group_label(entry["adapter"], entry["model"])
            parts = ("badges", "groups", data.safe_part(sweep), data.safe_part(entry["adapter"]),
                     *[data.safe_part(p) for p in entry["model"].split("/")])
            badge_parts = (*parts[:-1], parts[-1] + ".svg")
            svg = badges.group_badge(entry)
            self.writer.text(badge_parts[:-1], badge_parts[-1], svg)
            entry["badge"] = root + href(badge_parts[:-1], badge_parts[-1])
            entry["embed"] = self.embed(badge_parts, sweep_parts, f"CodingAgentBench: {entry['label']} "
                                        f"{data.fmt_pct(entry['pass_rate'])}")
            k = entry["trials"]
            entry["k"] = k
            entry["pass_at_k_top"] = entry["pass_at_k"].get(k) if k else None
            entry["pass_hat_k_top"] = entry["pass_hat_k"].get(k) if k else None
            entry["columns"] = [axes.column_cell(s, entry) for s in records]
        for ref in refs:
            ref.href = href(ref.site_dir)
            ref.row["href"] = root + ref.href
        annotate(board, comparisons, ComparePages(self, sweep, refs).write_all(comparisons, resamples), root)
        matrix = data.matrix_view(refs, board)
        samples = data.latency_samples(refs)
        scored = [r for r in rows if r.get("status") == "ok"]
        passes = sum(1 for r in scored if r.get("passed"))
        start, end = data.sweep_span(refs)
        manifest = data.read_manifest(self.results, sweep, self.scrubber)
        summary = {
            "sweep": sweep, "href": href(sweep_parts), "cells": len(rows), "scored": len(scored),
            "infra": len(rows) - len(scored), "passes": passes,
            "pass_rate": passes / len(scored) if scored else None,
            "groups": len(board), "tasks": len({r["task"] for r in rows}), "start": start, "end": end,
            "leader": board[0] if board else None, "columns": axes.columns(records), "board": board,
        }
        widest = max([abs(v) for c in comparisons for v in (c["delta_ci_low"], c["delta_ci_high"]) if v is not None]
                     or [1.0])
        page = self.render(
            "sweep.html.j2", root=root, sweep=summary, board=board, comparisons=comparisons, matrix=matrix,
            delta_scale=58 / max(widest, 0.05),
            forest=plots.forest(board), scatter=plots.tokens_vs_pass(board), latency=plots.latency(board, samples),
            manifest=data.manifest_rows(manifest) if manifest else None, outcomes=OUTCOMES,
            sweep_command=data.sweep_command(manifest) if manifest else None,
            errors=[e for e in errors if sweep in e[0]],
        )
        self.writer.text(sweep_parts, "index.html", page, rendered=True)
        return summary

    # ------------------------------------------------------------------ cell pages
    def _cell_jobs(self, refs: list[data.CellRef]) -> list[tuple]:
        """One ``(ref, by_task, by_group_category)`` per cell of a sweep: what its page needs from the others."""
        by_task: dict[str, list[data.CellRef]] = defaultdict(list)
        by_group_category: dict[tuple, list[data.CellRef]] = defaultdict(list)
        for ref in refs:
            r = ref.row
            by_task[r["task"]].append(ref)
            by_group_category[(r["adapter"], r["model"], r["task"].split("/", 1)[0], r["trial"])].append(ref)
        return [(ref, by_task, by_group_category) for ref in refs]

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
                        yield data.read_ref(folder, site.scrubber)
                    except Exception as exc:
                        yield data.describe_error(exc)
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

    def _related(self, ref: data.CellRef, by_task, by_group_category, root: str) -> dict:
        """Links to the cells a reader compares this one with (same sweep only)."""
        r = ref.row

        def link(other: data.CellRef, label: str) -> dict:
            return {"href": root + other.href, "label": label, "outcome": other.outcome, "title": other.outcome_label}

        def trial(o: data.CellRef) -> str:
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

    def _cell(self, ref: data.CellRef, by_task, by_group_category) -> None:
        folder = ref.folder
        texts = {name: _read_text(folder / name) for name in data.ARTIFACTS if (folder / name).is_file()}
        try:
            result, record = data.read_result(folder, self.scrubber, texts.get(data.CELL_FILE))
        except Exception:  # read fine in the first pass; changed underneath us: skip, do not crash the site
            return
        # Every text the page shows is masked here; the page itself then only gets the last exact-value pass.
        cleaned = {name: (record if name == data.CELL_FILE else self.scrubber.text(text)) for name, text in texts.items()}
        depth = len(ref.site_dir)
        root = _root(depth)
        files = {name: self.writer.copy(ref.site_dir, name, folder / name, text, cleaned.get(name)).name
                 for name, text in texts.items()}

        def artefact(key: str, default: str) -> str:
            name = result.files.get(key, default)
            if name in cleaned:
                return cleaned[name]
            # Only a file of the cell's own folder, by a plain name: never a path out of it.
            if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name:
                return ""
            return self.scrubber.text(_read_text(folder / name))

        cast_text = artefact("terminal", "terminal.cast")
        cast = data.cast_view(cast_text, self.scrubber) if cast_text else None
        patch = artefact("diff", "diff.patch")
        agent_output = ANSI.sub("", artefact("agent_output", "agent_output.txt"))
        test_output = ANSI.sub("", artefact("test_output", "test_output.txt"))
        ident = result.identity
        cell_badge = badges.cell_badge(ref.row)
        badge_parts = ("badges", *ref.site_dir[:-1], ref.site_dir[-1] + ".svg")
        self.writer.text(badge_parts[:-1], badge_parts[-1], cell_badge)
        sweep_parts = ("sweeps", data.safe_part(ident.sweep))
        alt = f"CodingAgentBench: {ident.adapter} × {ident.model} on {ident.task}: {ref.outcome_label}"
        total_tokens = sum(c.total_tokens for c in result.model_calls)
        page = self.render(
            "cell.html.j2", root=root, r=result, ident=ident, ref=ref,
            cards=axes.axis_cards(result, self.scorers), composite_parts=axes.composite_parts(result, self.scorers),
            warnings=axes.token_warnings(result),
            identity=data.identity_rows(result), trace=data.trace_view(result), calls=data.calls_view(result),
            diff=data.diff_view(patch) if patch.strip() else None,
            cast=cast, agent_output=data.clip(agent_output), test_output=data.clip(test_output),
            final_output=data.clip(ANSI.sub("", result.final_output)), final_screen=ANSI.sub("", result.final_screen), breakdown=data.breakdown_rows(result, self.scorers),
            repro=data.reproduce(result), files=files, total_tokens=total_tokens,
            agent_tokens=data.agent_tokens_line(result.agent_tokens),
            started=data.fmt_time(result.started_at), ended=data.fmt_time(result.ended_at),
            sweep_href=root + href(sweep_parts), related=self._related(ref, by_task, by_group_category, root),
            badge=root + href(badge_parts[:-1], badge_parts[-1]),
            embed=self.embed(badge_parts, ref.site_dir, alt), outcomes=OUTCOMES,
        )
        self.writer.text(ref.site_dir, "index.html", page, rendered=True)


#: How many other tasks of the same category a cell page links to (the sweep page has them all).
RELATED_TASKS = 12
#: Below this many cells the pages are written in-process; above it, by forked workers.
PARALLEL_MIN = 200
_WORK: Optional[tuple] = None


def _read_one(index: int):
    """A forked worker reads one cell of the first pass: its CellRef, or why it could not."""
    site, folders = _WORK  # type: ignore[misc]  (set by the parent before forking)
    try:
        return data.read_ref(folders[index], site.scrubber)
    except Exception as exc:
        return data.describe_error(exc)


def _render_slice(task: tuple[int, int]) -> tuple[set, int]:
    """A forked worker's share of the cell pages: every ``n``-th job from ``i``; returns what it wrote."""
    i, n = task
    site, work = _WORK  # type: ignore[misc]  (set by the parent before forking)
    site.writer.written, site.writer.pages = set(), 0
    for job in work[i::n]:
        site._cell(*job)
    return site.writer.written, site.writer.pages


#: Outcome classes, their words and the legend order (matrix, related links, verdicts).
OUTCOMES = (
    ("pass", "passed"),
    ("pass-blast", "passed, changed files outside the task"),
    ("fail", "failed"),
    ("refused", "refused, as it should"),
    ("complied", "complied where it should refuse"),
    ("uncertain", "could not tell whether it refused"),
    ("overrefused", "refused a task it should do"),
    ("tamper", "tampered with the tests"),
    ("infra", "infrastructure error"),
)


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
        from ..errors import CabError

        raise CabError(f"--out {out} is inside the results folder {results}; the report's copies would be read "
                       "as cells (choose a folder outside it, e.g. --out report)")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            from ..errors import CabError

            raise CabError(f"--out {out} exists and is not a cab report; choose an empty or new folder")
        # An earlier report is overwritten in place and its leftovers pruned after (faster than deleting it first).
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by cab report; the folder may be replaced by the next report\n")
    return Site(results, out, base_url=base_url, redactor=redactor, title=title, jobs=jobs, scorers=scorers).build()


__all__ = ["build_site", "SiteResult", "json_script", "make_env", "OUTCOMES", "MARKER"]
