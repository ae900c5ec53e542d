"""The sweep executors cab ships: a local thread pool, and a Dask cluster (an optional extra).

Both reach the sweep through the ``cab_executors`` provider hook, as a third party's
executor would (this module is one of the core's default plugins,
:data:`cab_core.plugins.DEFAULT_PLUGINS`).  An executor object has ``name``,
``slots``, ``submit(opts)``, ``wait(handles, timeout)``, ``result(handle)`` (a cell
summary dict: cell_id, status, passed, error, duration_s, path, worker) and
``close(wait=True)``.

``dask`` needs the ``distributed`` package, installed by ``pip install 'cab-core[dask]'``;
without it the executor is listed but unavailable, and choosing it is a one-line
error naming the extra.  Each Dask worker needs cab and the agents installed; it
builds its own Runner from entry points (:func:`run_cell_task`) and writes the cell
into the shared results path, or, with ``worker_results = "return"``, sends the cell
folder back for the coordinator to publish.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import attrs

from .. import serialization
from ..errors import CabError, one_line
from ..hookspecs import hookimpl
from ..models import CellResult, Executor
from ..plugins import get_plugin_manager
from ..registry import Registry
from ..results import CELL_FILE, CellWriter
from ..runoptions import RunOptions
from ..secrets import Redactor
from .spec import cell_id_of
from ..tasks import TaskCatalog

if TYPE_CHECKING:  # the runner (and the proxy, aiohttp) is imported when a cell runs, not when plugins load
    from ..runner import Runner

DASK_EXTRA = "cab-core[dask]"


def _summary(result: CellResult, folder: Path, worker: str = "") -> dict:
    return {"cell_id": result.cell_id, "status": result.status, "passed": result.passed, "error": result.error,
            "duration_s": result.duration_s, "path": str(folder), "worker": worker}


class LocalExecutor:
    """A pool of ``jobs`` threads sharing one Runner (the work itself is in subprocesses).

    A cell whose agent and tests are over and that is only writing its record lends its
    slot to the next cell (:meth:`lent_slots`): the next one starts while the record is
    flushed to disk, instead of after (issue 16: the time between cells).  At most
    ``jobs`` cells run their agent or tests at once (:mod:`.turns`); ``ahead`` more may
    prepare beside them, each starting once a running cell's tests have started.  The
    pool has a thread per running cell, per cell ahead and per record being written.
    """

    name = "local"

    def __init__(self, runner: Runner, jobs: int):
        from .turns import Turns

        self.runner = runner
        self.slots = jobs
        self.ahead = jobs  # cells that may be submitted beyond the slots: they wait for their turn
        self.owns_runner = False
        self.pool = ThreadPoolExecutor(max_workers=3 * jobs, thread_name_prefix="cab-cell")
        self.turns = Turns(jobs)
        self._changed = threading.Condition()
        self._recording: set = set()

    def submit(self, opts: RunOptions):
        """Start a cell (its turn is in submission order); returns a future of its summary."""
        token = object()
        turn = self.turns.ticket()
        future = self.pool.submit(self._run, opts, token, turn)
        future.cab_token = token
        future.add_done_callback(self._wake)
        return future

    def _run(self, opts: RunOptions, token: object, turn) -> dict:
        try:
            turn.admitted()  # the cell starts once the one before it runs its tests (not counted as its time)
            result, folder = self.runner.run_cell(opts, on_recording=lambda: self._record_started(token, turn),
                                                  turn=turn)
        finally:
            turn.done()
            turn.recorded()
            with self._changed:
                self._recording.discard(token)
        return _summary(result, folder, "local")

    def _record_started(self, token: object, turn) -> None:
        turn.recorded()  # only the disk's flush left: the next cell may start beside it
        with self._changed:
            self._recording.add(token)
            self._changed.notify_all()

    def _wake(self, _future) -> None:
        with self._changed:
            self._changed.notify_all()

    def lent_slots(self, handles: Sequence) -> int:
        """How many of ``handles`` are only writing their record (their slots may start other cells)."""
        with self._changed:
            return sum(1 for h in handles if getattr(h, "cab_token", None) in self._recording and not h.done())

    def wait(self, handles: Sequence, timeout: float) -> list:
        """The handles that are done, waiting at most ``timeout`` seconds for the first (or for a slot lent)."""
        lent = self.lent_slots(handles)
        with self._changed:
            self._changed.wait_for(lambda: any(h.done() for h in handles) or self._lent(handles) > lent, timeout)
        return [h for h in handles if h.done()]

    def _lent(self, handles: Sequence) -> int:
        return sum(1 for h in handles if getattr(h, "cab_token", None) in self._recording and not h.done())

    def result(self, handle) -> dict:
        """The cell summary of a finished handle (raises what the cell's thread raised)."""
        return handle.result()

    def close(self, wait: bool = True) -> None:
        """Stop the pool: queued cells are cancelled; ``wait`` for the running ones (and close an own runner)."""
        if not wait:
            self.turns.close()  # cells waiting to start or for their turn give up
        self.pool.shutdown(wait=wait, cancel_futures=True)
        if self.owns_runner:
            self.runner.close()


class DaskExecutor:
    """Cells as tasks on a ``distributed`` cluster (the ``cab-core[dask]`` extra); see :func:`run_cell_task`."""

    name = "dask"

    def __init__(self, *, scheduler: Optional[str], jobs: int, catalog, worker_results: str = "shared",
                 client=None):
        from distributed import Client, LocalCluster

        self.cluster = None
        if client is not None:
            self.client = client
        elif scheduler:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise CabError(one_line(exc, prefix=f"cannot reach the Dask scheduler at {scheduler}: ")) from None
        else:
            self.cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        self._own_client = client is None
        self.tasks_dirs = [str(Path(p).resolve()) for p in getattr(catalog, "tasks_dirs", ())]
        self.task_format = getattr(catalog, "task_format", "auto")
        self.ship = worker_results == "return"
        self.slots = 10**9  # the scheduler queues; a killed coordinator's queued tasks are released with it

    def submit(self, opts: RunOptions):
        """Submit a cell as a task (a unique key: a rerun is a new task, never a cached result)."""
        data = serialization.unstructure(opts)
        key = f"cab-cell-{cell_id_of(opts).cell_id}-{time.monotonic_ns()}"
        return self.client.submit(run_cell_task, data, self.tasks_dirs, self.task_format, self.ship,
                                  key=key, pure=False, retries=0)

    def wait(self, handles: Sequence, timeout: float) -> list:
        from distributed import wait as dask_wait

        try:
            done, _ = dask_wait(list(handles), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        return list(done)

    def result(self, handle) -> dict:
        """The cell summary; a cell the worker returned is published here first."""
        out = handle.result()
        if out.get("files") is not None:
            out["path"] = str(_publish_shipped(out))
        return out

    def close(self, wait: bool = True) -> None:
        if self._own_client:
            with contextlib.suppress(Exception):
                self.client.close(timeout=10)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=20)


_WORKER_LOCK = threading.Lock()
_WORKER_RUNNERS: dict[tuple, Runner] = {}


def _worker_runner(tasks_dirs: tuple[str, ...], task_format: str) -> Runner:
    """One Runner per worker process and task set, built from the worker's own entry points."""
    from ..runner import Runner

    key = (tasks_dirs, task_format)
    with _WORKER_LOCK:
        runner = _WORKER_RUNNERS.get(key)
        if runner is None:
            registry = Registry(get_plugin_manager())
            runner = Runner(registry, TaskCatalog(registry, tasks_dirs=[Path(p) for p in tasks_dirs], task_format=task_format))
            _WORKER_RUNNERS[key] = runner
        return runner


def run_cell_task(opts_data: dict, tasks_dirs: Sequence[str] = (), task_format: str = "auto", ship: bool = False) -> dict:
    """Run one cell on a Dask worker (a module-level function, so workers import it by name).

    ``opts_data`` is a :class:`RunOptions` as plain data.  The cell is written into
    ``opts.results`` (a path shared with the coordinator), or with ``ship`` into a
    scratch folder whose files are returned (``files``: name -> bytes) for the
    coordinator to publish.  Returns the cell summary.
    """
    runner = _worker_runner(tuple(tasks_dirs), task_format)
    opts = serialization.structure(opts_data, RunOptions)
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = socket.gethostname()
    if not ship:
        result, folder = runner.run_cell(opts)
        return _summary(result, folder, worker)
    scratch = Path(tempfile.mkdtemp(prefix="cab-worker-"))
    try:
        result, folder = runner.run_cell(attrs.evolve(opts, results=scratch))
        out = _summary(result, folder, worker)
        out["files"] = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        out["results"] = str(opts.results)
        out["relpath"] = cell_id_of(opts).relpath.as_posix()
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _publish_shipped(out: dict) -> Path:
    """Publish a cell folder a worker sent back, atomically like the runner does."""
    files = dict(out["files"])
    result = serialization.loads(files.pop(CELL_FILE).decode("utf-8"), CellResult)
    writer = CellWriter(Path(out["results"]), Path(out["relpath"]), Redactor(include_environment=False))
    for name, data in files.items():
        target = writer.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return writer.publish(result)


def dask_available() -> Optional[str]:
    """``None`` when ``distributed`` can be imported, else the one line naming the extra."""
    try:
        import distributed  # noqa: F401  (an optional extra: imported only to see that it is there)
    except ImportError:
        return f"the dask executor needs the 'distributed' package: pip install '{DASK_EXTRA}'"
    return None


def _open_local(*, spec, registry, catalog, runner: Optional[Runner] = None) -> LocalExecutor:
    from ..runner import Runner

    executor = LocalExecutor(runner or Runner(registry, catalog), spec.jobs)
    executor.owns_runner = runner is None
    return executor


def _open_dask(*, spec, registry, catalog, runner=None) -> "DaskExecutor":
    return DaskExecutor(scheduler=spec.scheduler, jobs=spec.jobs, catalog=catalog, worker_results=spec.worker_results)


@hookimpl
def cab_executors():
    """The local thread pool and the Dask cluster."""
    return [
        Executor(name="local", open=_open_local, description="a pool of --jobs threads on this machine"),
        Executor(name="dask", open=_open_dask, available=dask_available,
                 description=f"cells as tasks on a Dask cluster (--scheduler, or a LocalCluster); needs {DASK_EXTRA}"),
    ]
