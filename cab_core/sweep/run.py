"""Running a sweep: every missing cell through an executor, infra errors retried, then normalised and indexed.

Executors come from the ``cab_executors`` provider hook by name (:mod:`cab_core.sweep.executors`
holds the built-in ones).  A Ctrl-C finishes the cells in flight and starts no more;
a second one abandons them (never half-written: resume picks them up).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

import attrs

from .. import index as _index
from .. import serialization
from ..errors import one_line
from ..models import STATUS_INFRA_ERROR, STATUS_OK, CellResult, utcnow
from ..results import CELL_FILE, CellWriter, read_cell
from ..runoptions import RunOptions
from ..secrets import Redactor
from ..sandbox import localpool
from ..workspace import template, trash
from .normalisation import NORMALISATION_FORMULA, normalise, stat_key
from .spec import SweepSpec, cell_id_of, plan_cells, resolve_tasks, validate
from .state import (MANIFEST_VERSION, _append_attempt, _end_torn_line, cell_state, clean_stale,
                    read_attempts, read_manifest, sweep_lock, write_manifest)

if TYPE_CHECKING:  # imported when the executor opens, after the first task's template is started (issue 16)
    from ..runner import Runner


@attrs.frozen(kw_only=True)
class CellOutcome:
    """What the coordinator learns when a cell ends."""

    opts: RunOptions
    status: str
    passed: Optional[bool] = None
    error: Optional[str] = None
    duration_s: float = 0.0
    path: Optional[Path] = None
    worker: str = ""


# --------------------------------------------------------------------------- running


class SweepObserver:
    """Hears about a sweep's progress (the CLI draws a progress bar from it). All no-ops here."""

    def started(self, *, sweep_id: str, total: int, complete: int, passing: int, to_run: int) -> None: ...

    def cell_finished(self, outcome: CellOutcome, *, done: int, total: int, passing: int, retrying: bool) -> None: ...

    def message(self, text: str) -> None: ...

    def finished(self, report: "SweepReport") -> None: ...


@attrs.frozen(kw_only=True)
class SweepReport:
    """How a run of a sweep went."""

    sweep_id: str
    root: Path
    total: int
    skipped: int
    ran: int
    retried: int
    passing: int
    infra_errors: int
    missing: int
    elapsed_s: float
    interrupted: bool = False
    references: Mapping[str, Any] = attrs.field(factory=dict)
    #: The sweep's cell rows from the index as the run left it (what the leaderboard shows).
    rows: Optional[list] = None
    #: Cell files of the sweep the index could not read (left out of ``rows``).
    unreadable: int = 0


def _error_record(opts: RunOptions, error: str) -> CellResult:
    now = utcnow()
    cell = cell_id_of(opts)
    return CellResult(cell_id=cell.cell_id, identity=cell, status=STATUS_INFRA_ERROR, error=error, started_at=now,
                      ended_at=now, duration_s=0.0, sandbox=opts.sandbox, isolation="unknown",
                      command=opts.reproduce_command(), host={"coordinator": socket.gethostname()})


def _write_error_cell(opts: RunOptions, error: str) -> Path:
    """A cell whose executor failed before the runner could write it is still recorded (infra error)."""
    writer = CellWriter(opts.results, cell_id_of(opts).relpath, Redactor())
    return writer.publish(_error_record(opts, error))


@attrs.define
class _Run:
    """The mutable state of one run of a sweep: the queue, the attempts and the counts."""

    spec: SweepSpec
    cells: list
    attempts: dict
    todo: deque = attrs.field(factory=deque)
    inflight: dict = attrs.field(factory=dict)
    complete: int = 0
    passing: int = 0
    skipped: int = 0
    ran: int = 0
    retried: int = 0
    stopping: bool = False
    abandoned: bool = False
    #: the cells read as they finished, for normalisation not to parse them again
    read: dict = attrs.field(factory=dict)
    #: the status of every published cell by cell id (``None``: not published), kept as cells end
    statuses: dict = attrs.field(factory=dict)
    #: finished cells that could not be put in the index as they ended (the close syncs then)
    unindexed: int = 0


def _plan(spec: SweepSpec, cells: list, results_root: Path, attempts: dict) -> _Run:
    """Which cells are done (kept), spent (infra errors past the retry budget) or to run."""
    state = _Run(spec=spec, cells=cells, attempts=attempts)
    for opts in cells:
        status, passed = cell_state(results_root, opts)
        state.statuses[cell_id_of(opts).cell_id] = status
        if status == STATUS_OK:
            state.complete += 1
            state.passing += passed
        elif status == STATUS_INFRA_ERROR and max(attempts.get(cell_id_of(opts).cell_id, 0), 1) > spec.retries:
            state.complete += 1  # retry budget spent: it stays an infrastructure error
        else:
            state.todo.append(opts)
    state.skipped = state.complete
    return state


def _open_manifest(spec: SweepSpec, sweep_root: Path, task_ids: list, state: _Run) -> dict:
    """The manifest with this run appended (status running), written."""
    manifest = read_manifest(sweep_root) or {"schema_version": MANIFEST_VERSION, "sweep_id": spec.sweep_id,
                                              "created_at": serialization.unstructure(utcnow()), "runs": []}
    manifest.update(matrix=spec.matrix(), task_ids=task_ids, cells=len(state.cells))
    manifest["updated_at"] = serialization.unstructure(utcnow())
    manifest.setdefault("runs", []).append({
        "started_at": manifest["updated_at"], "host": socket.gethostname(), "pid": os.getpid(),
        "executor": spec.executor, "jobs": spec.jobs, "to_run": len(state.todo), "status": "running"})
    write_manifest(sweep_root, manifest)
    return manifest


def _finished_cell(state: _Run, executor, handle, sweep_root: Path, index, observer: SweepObserver) -> None:
    """Record a cell that came back: its attempt, a retry if it was an infra error, the index, the observer."""
    opts = state.inflight.pop(handle)
    outcome = _outcome(executor, handle, opts)
    state.ran += 1
    cid = cell_id_of(opts).cell_id
    _append_attempt(sweep_root, {
        "cell": cid, "status": outcome.status, "passed": outcome.passed, "worker": outcome.worker,
        "at": serialization.unstructure(utcnow()), "error": outcome.error})
    retrying = False
    if outcome.status == STATUS_INFRA_ERROR:
        state.attempts[cid] = state.attempts.get(cid, 0) + 1
        if state.attempts[cid] <= state.spec.retries and not state.stopping:
            state.todo.append(opts)
            state.retried += 1
            retrying = True
    if not retrying:
        state.complete += 1
        state.passing += bool(outcome.passed)
    state.statuses[cid] = outcome.status if outcome.path is not None else None
    if outcome.path is not None:
        try:
            key, result = stat_key(outcome.path / CELL_FILE), read_cell(outcome.path)
            state.read[outcome.path.resolve()] = (key, result)
            index.get().upsert_cell(result, outcome.path)
        except Exception:  # noqa: BLE001  (the close brings the index up to date from the files)
            state.unindexed += 1
    observer.cell_finished(outcome, done=state.complete, total=len(state.cells), passing=state.passing,
                           retrying=retrying)


def _refill(state: _Run, executor, finishing: int = 0) -> None:
    """Submit cells while a slot is free (``finishing``: cells done but not yet recorded, whose slots are;
    and the slots of cells only writing their record, which an executor may lend: ``lent_slots``)."""
    lent = getattr(executor, "lent_slots", None)
    room = executor.slots + getattr(executor, "ahead", 0)  # cells ahead wait for their turn (see .turns)
    while state.todo and not state.stopping and (
            len(state.inflight) - finishing - (lent(list(state.inflight)) if lent else 0) < room):
        opts = state.todo.popleft()
        state.inflight[executor.submit(opts)] = opts


def _drive(state: _Run, executor, sweep_root: Path, index, observer: SweepObserver, poll_s: float,
           tail: Optional["_Tail"] = None) -> None:
    """Keep the executor full until every cell is done; the first Ctrl-C drains, the second abandons."""
    while (state.todo and not state.stopping) or state.inflight:
        try:
            _refill(state, executor)
            index.get()  # opened while the first cells run, not before them (issue 16)
            done = executor.wait(list(state.inflight), tail.poll(state, poll_s) if tail is not None else poll_s)
            # The next cells start before the finished ones are recorded (read, indexed): the
            # bookkeeping overlaps their work instead of holding a free slot idle (issue 16).
            # A finished cell leaves ``inflight`` only once recorded, so an interrupt loses none.
            _refill(state, executor, finishing=len(done))
            for handle in done:
                _finished_cell(state, executor, handle, sweep_root, index, observer)
            if tail is not None and not done:
                tail.run_if_due(state)
        except KeyboardInterrupt:
            if state.stopping:
                state.abandoned = True
                raise
            state.stopping = True
            observer.message(f"interrupted: finishing the {len(state.inflight)} cells in flight, starting no more "
                             "(Ctrl-C again to abandon them)")


class _Tail:
    """The sweep normalised beside its last cell, so that its close rewrites only what that cell changes.

    Once every other cell is done (nothing left to start, one cell in flight) and that cell's
    command has been running a while (:func:`cab_core.sandbox.quiet.later`), the coordinator,
    idle until it ends, normalises the cells on disk.  The close normalises again over every
    cell: a cell whose scores that first pass already gave is not written again, so the
    close writes and indexes only the cells the last one changes (its own; all of its task's
    when it sets a new reference).  An interrupted sweep is not normalised (as before): the
    pass runs only while the sweep is not stopping, and the close's pass is the one that counts.
    """

    POLL_S = 0.02

    def __init__(self, normalise_now):
        self._normalise = normalise_now
        self._due = None
        self.ran = False

    def _armed(self, state: _Run) -> bool:
        return (not self.ran and not state.stopping and not state.todo and len(state.inflight) == 1
                and state.complete > 0)

    def poll(self, state: _Run, poll_s: float) -> float:
        """How long the coordinator may wait for a cell now (short while the pass is due to start)."""
        if not self._armed(state):
            return poll_s
        if self._due is None:
            from ..sandbox import quiet

            self._due = threading.Event()
            quiet.later(self._due.set, tag="cab-normalise")
        return self.POLL_S

    def run_if_due(self, state: _Run) -> None:
        if self._armed(state) and self._due is not None and self._due.is_set():
            self.ran = True
            try:
                self._normalise()
            except Exception:  # noqa: BLE001  (the close normalises again, and reports what fails)
                pass


def run_sweep(spec: SweepSpec, registry, catalog, *, observer: Optional[SweepObserver] = None,
              runner: Optional[Runner] = None, executor=None, poll_s: float = 0.5) -> SweepReport:
    """Run (or resume) the sweep ``spec``: every missing cell, infra errors up to the retry budget.

    Then normalise the sweep and update the index.  ``runner`` (local executor) or
    ``executor`` may be given by the caller (tests); otherwise they are built here.
    """
    observer = observer or SweepObserver()
    validate(spec, registry)
    task_ids = resolve_tasks(spec, catalog)
    sweep_root, results_root = spec.root.resolve(), spec.results.resolve()
    t0 = time.perf_counter()
    with sweep_lock(sweep_root):
        clean_stale(sweep_root)
        _end_torn_line(sweep_root)
        state = _plan(spec, plan_cells(spec, task_ids), results_root, read_attempts(sweep_root))
        own_executor = executor is None
        warming = _warm_up(spec, state, catalog)
        try:
            if executor is None and state.todo:
                executor = registry.executors.get(spec.executor).open(spec=spec, registry=registry,
                                                                      catalog=catalog, runner=runner)
        except BaseException:
            if warming is not None:
                warming.join(timeout=10)
            raise
        manifest = _open_manifest(spec, sweep_root, task_ids, state)
        observer.started(sweep_id=spec.sweep_id, total=len(state.cells), complete=state.complete,
                         passing=state.passing, to_run=len(state.todo))
        index = _SweepIndex(results_root, sweep_root)
        try:
            # more than one cell: each prepares the next one's local sandboxes while it verifies
            with localpool.ahead(len(state.todo)) if len(state.todo) > 1 else contextlib.nullcontext():
                _drive(state, executor, sweep_root, index, observer, poll_s,
                       tail=_Tail(lambda: _normalise(state, sweep_root, registry, catalog, index.get())))
        finally:
            if warming is not None:  # done long before, unless no cell ran: never left building at exit
                warming.join(timeout=10)
            if own_executor and executor is not None:
                with trash.deferred():  # the cells' folders are removed beside the wind-down (drained below)
                    executor.close(wait=not state.abandoned)
                if not state.abandoned:  # no cell of this sweep runs any more: its templates go beside the close
                    template.release()
            if state.abandoned:
                index.close()
        report = _close(state, sweep_root, results_root, registry, catalog, index, manifest, t0)
        trash.drain()
    observer.finished(report)
    return report


def _warm_up(spec: SweepSpec, state: _Run, catalog):
    """Start warming what the first cells (one per slot) will build once (see :mod:`.warmup`); the thread or None."""
    if spec.executor != "local" or not state.todo:  # other executors run cells in other processes
        return None
    from . import warmup

    tasks: dict = {}
    for opts in list(state.todo)[:max(1, spec.jobs)]:
        if opts.task not in tasks:
            try:
                tasks[opts.task] = catalog.get(opts.task)
            except Exception:  # noqa: BLE001  (the cell reports it)
                continue
    thread = warmup.start(tasks.values())
    if spec.sandbox == "local":
        warmup.relay_probe()
    warmup.preload()
    warmup.python_runtimes(tasks.values())
    return thread


def _close(state: _Run, sweep_root: Path, results_root: Path, registry, catalog, index: "_SweepIndex",
           manifest: dict, t0: float) -> SweepReport:
    """Normalise, finish the manifest's run entry, leave the index up to date; the report.

    The work is in proportion to what changed: every cell of this run went into the index
    as it ended (the index is read whole only if one could not), the statuses are the
    ones kept as cells ended, and the leaderboard's rows come from the open index.
    """
    idx = index.get()
    references = {}
    settled = _settled_references(state, manifest)
    if settled is not None:  # nothing ran since the sweep was last normalised whole: nothing to redo
        references = settled
    elif not state.stopping:
        references = _normalise(state, sweep_root, registry, catalog, idx)
    if state.unindexed:
        index.unreadable = idx.sync(sweep_root)["unreadable"]
    statuses = [state.statuses.get(cell_id_of(o).cell_id) for o in state.cells]
    report = SweepReport(
        sweep_id=state.spec.sweep_id, root=sweep_root, total=len(state.cells), skipped=state.skipped, ran=state.ran,
        retried=state.retried, passing=state.passing,
        infra_errors=sum(1 for s in statuses if s == STATUS_INFRA_ERROR),
        missing=sum(1 for s in statuses if s is None), elapsed_s=time.perf_counter() - t0,
        interrupted=state.stopping, references=references,
    )
    manifest = read_manifest(sweep_root) or manifest
    manifest["runs"][-1].update(ended_at=serialization.unstructure(utcnow()), ran=state.ran, skipped=state.skipped,
                                retried=state.retried, status="interrupted" if state.stopping else "finished",
                                elapsed_s=round(report.elapsed_s, 3))
    manifest["updated_at"] = serialization.unstructure(utcnow())
    if not state.stopping:
        manifest["normalisation"] = {"formula": NORMALISATION_FORMULA, "references": references}
    write_manifest(sweep_root, manifest)
    idx.upsert_sweep(state.spec.sweep_id, manifest)
    rows = idx.rows(state.spec.sweep_id)
    index.close()
    return attrs.evolve(report, rows=rows, unreadable=index.unreadable)


def _normalise(state: _Run, sweep_root: Path, registry, catalog, idx: "_index.Index") -> dict:
    """Normalise the sweep; a rewritten cell goes into the index as it is written, not read back by sync."""
    references = normalise(sweep_root, registry, catalog, cache=state.read,
                           rewritten=lambda folder, result: idx.upsert_cell(result, folder, commit=False))
    idx.conn.commit()
    return references


def _settled_references(state: _Run, manifest: dict) -> Optional[dict]:
    """The references of the last normalisation when no cell ran since it (else ``None``: normalise).

    A run that ran nothing leaves the sweep's cells as the previous run left them; if that
    run finished (an interrupted one skips normalisation), its references still hold.
    """
    runs = manifest.get("runs") or []
    settled = manifest.get("normalisation")
    if state.ran or state.stopping or len(runs) < 2 or not isinstance(settled, dict):
        return None
    if runs[-2].get("status") != "finished" or settled.get("formula") != NORMALISATION_FORMULA:
        return None
    return settled.get("references") if isinstance(settled.get("references"), dict) else None


class _SweepIndex:
    """The results index of a sweep, opened on first use and then brought up to date with the sweep's folder.

    :func:`_drive` opens it once the first cells are submitted, so its rebuild or catch-up
    (cells a killed coordinator published but did not index) runs beside them rather than
    before them (issue 16: start-up).
    """

    def __init__(self, results_root: Path, sweep_root: Path):
        self.results_root, self.sweep_root = results_root, sweep_root
        self.unreadable = 0
        self._index: Optional[_index.Index] = None

    def get(self) -> _index.Index:
        if self._index is None:
            self._index = _index.ensure(self.results_root)
            self.unreadable = self._index.sync(self.sweep_root)["unreadable"]
        return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


def _outcome(executor, handle, opts: RunOptions) -> CellOutcome:
    try:
        out = executor.result(handle)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        # The runner writes a record whatever fails inside a cell; this is a failure around it
        # (a user error raised before the cell started, a lost worker): record it as an infra error.
        error = one_line(exc, prefix=f"{executor.name} executor: ")
        try:
            path = _write_error_cell(opts, error)
        except OSError:
            path = None
        return CellOutcome(opts=opts, status=STATUS_INFRA_ERROR, error=error, path=path)
    path = Path(out["path"]) if out.get("path") else None
    if path is not None and not (path / CELL_FILE).is_file():
        expected = Path(opts.results) / cell_id_of(opts).relpath
        error = (f"the worker wrote {path} but it is not readable here; give workers a shared results path "
                 f"or set worker_results = \"return\"")
        path = _write_error_cell(opts, error) if not (expected / CELL_FILE).is_file() else expected
        return CellOutcome(opts=opts, status=STATUS_INFRA_ERROR, error=error, path=path, worker=out.get("worker", ""))
    return CellOutcome(opts=opts, status=out["status"], passed=out.get("passed"), error=out.get("error"),
                       duration_s=out.get("duration_s") or 0.0, path=path, worker=out.get("worker", ""))
