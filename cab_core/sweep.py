"""Sweeps: a matrix of cells (adapter × model × task × trial) run as one resumable unit.

The matrix
    Every adapter runs every task with each of its models, ``trials`` times.  Models
    are given for all adapters (``--models M1,M2``) or per adapter
    (``--models command=oracle,noop --models mini=scripted/oracle``), so adapters
    that speak different model names share one sweep.

The sweep file (TOML, committable; CLI flags override it)::

    sweep_id = "nightly"            # fixed id: re-running resumes it
    adapters = ["command", "mini"]
    tasks = ["polyglot/python-*", "polyglot/js-*"]
    trials = 2
    jobs = 2
    sandbox = "local"
    timeout = 600
    retries = 2                     # reruns of a cell that ended in an infrastructure error
    executor = "local"              # or "dask" (with scheduler = "tcp://host:8786")
    [models]                        # or: models = ["m1", "m2"] for every adapter
    command = ["oracle", "noop"]
    mini = ["scripted/oracle", "scripted/noop"]
    [options]                       # adapter options (-o KEY=VALUE)
    [weights]                       # composite weights by axis (--weights AXIS=W,...); others keep defaults
    test_focus = 0.2

Resume
    A cell is complete when its ``cell.json`` parses (the runner publishes a cell
    folder with one rename, so a killed coordinator leaves either a whole cell or
    none).  Running a sweep id again, or ``--resume``, skips complete cells and
    reruns missing ones and those whose status is ``infra_error``, each at most
    ``1 + retries`` times over the sweep's life (``attempts.jsonl`` counts them).
    One coordinator per sweep at a time (a lock file); the staging folders a killed
    coordinator left are removed when the next one starts.

Executors
    Records of the ``cab_executors`` provider hook, chosen by name
    (:mod:`cab_core.executors`): ``local``, a thread pool of ``jobs`` sharing one
    Runner (and so one scripted model server); ``dask``, each cell a task on a
    ``distributed`` cluster (``--scheduler tcp://HOST:PORT``, or a LocalCluster of
    ``jobs`` workers on 127.0.0.1), from the ``cab-core[dask]`` extra.

Normalisation (after every run of a sweep)
    Each scorer that declares a ``reference_option`` takes part: per task, the best
    value of its axis among the sweep's passing cells becomes the reference, and the
    aggregate scorers (the composite) are run again with it; see
    :mod:`cab_core.normalisation`.

``results/<sweep>/sweep.json`` records the matrix, the runs and the references.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import attrs

from . import index as _index
from . import serialization
from .errors import CabError, one_line
from .index import MANIFEST_FILE
from .models import STATUS_INFRA_ERROR, STATUS_OK, CellId, CellResult, utcnow
from .results import CELL_FILE, CellWriter, atomic_write_text, read_cell, recover
from .runner import RunOptions, Runner
from .normalisation import NORMALISATION_FORMULA, compute_references, normalise  # noqa: F401
from .scoring import OPTION_WEIGHTS, check_weights
from .registry import check_options
from .secrets import Redactor

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ATTEMPTS_FILE = "attempts.jsonl"
LOCK_FILE = ".sweep.lock"
WORKER_RESULTS = ("shared", "return")
MANIFEST_VERSION = 1


# --------------------------------------------------------------------------- the matrix


@attrs.frozen(kw_only=True)
class SweepSpec:
    """What a sweep runs and how; built from a sweep file, a manifest and CLI flags."""

    sweep_id: str
    adapters: tuple[str, ...] = attrs.field(converter=tuple)
    #: Models for every adapter without an entry in ``adapter_models``.
    models: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    adapter_models: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=dict, converter=lambda d: {k: tuple(v) for k, v in (d or {}).items()})
    tasks: tuple[str, ...] = attrs.field(converter=tuple)
    trials: int = 1
    jobs: int = 1
    sandbox: str = "local"
    timeout: float = 600.0
    retries: int = 2
    options: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    plugins: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    endpoint: Optional[str] = None
    api_key_env: Optional[str] = None
    executor: str = "local"
    scheduler: Optional[str] = None
    worker_results: str = "shared"
    results: Path = attrs.field(default=Path("results"), converter=Path)
    tasks_dirs: tuple[Path, ...] = attrs.field(default=(), converter=lambda v: tuple(Path(p) for p in v))
    task_format: str = "auto"
    #: The sweep file this came from (recorded in the manifest; resume finds sweeps by it).
    source: Optional[str] = None
    #: The composite's weights, axis name -> weight (``--weights``, or ``[weights]`` in the file); empty: the defaults.
    weights: Mapping[str, float] = attrs.field(factory=dict, converter=dict)

    def models_for(self, adapter: str) -> tuple[str, ...]:
        """The models ``adapter`` runs: its own list, else the common one."""
        return tuple(self.adapter_models.get(adapter, self.models))

    def pairs(self) -> list[tuple[str, str]]:
        """Every (adapter, model) of the matrix, in order."""
        return [(a, m) for a in self.adapters for m in self.models_for(a)]

    @property
    def root(self) -> Path:
        """The sweep's folder below the results root."""
        return self.results / self.sweep_id

    def matrix(self) -> dict:
        """The JSON form recorded in ``sweep.json`` (no secret: only the key's variable name)."""
        data = serialization.unstructure(attrs.asdict(self, recurse=False))
        data["adapter_models"] = {k: list(v) for k, v in self.adapter_models.items()}
        return data


#: Fields a sweep file may set (everything of SweepSpec but ``source``).
FILE_FIELDS = {f.name for f in attrs.fields(SweepSpec)} - {"source"}


@attrs.frozen(kw_only=True)
class _SweepFile:
    """The shape of a sweep file (unknown keys are an error); ``models`` is checked by hand."""

    sweep_id: Optional[str] = None
    adapters: Optional[list[str]] = None
    models: Any = None
    tasks: Optional[list[str]] = None
    trials: Optional[int] = None
    jobs: Optional[int] = None
    sandbox: Optional[str] = None
    timeout: Optional[float] = None
    retries: Optional[int] = None
    options: Optional[dict[str, str]] = None
    plugins: Optional[list[str]] = None
    endpoint: Optional[str] = None
    api_key_env: Optional[str] = None
    executor: Optional[str] = None
    scheduler: Optional[str] = None
    worker_results: Optional[str] = None
    results: Optional[str] = None
    tasks_dirs: Optional[list[str]] = None
    task_format: Optional[str] = None
    weights: Optional[dict[str, float]] = None


_strict = serialization.strict_converter()


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


def parse_models(values: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """``--models`` values: ``M1,M2`` (every adapter) or ``ADAPTER=M1,M2`` (that adapter)."""
    common: list[str] = []
    per: dict[str, list[str]] = {}
    for value in values:
        if "=" in value:
            adapter, _, models = value.partition("=")
            per.setdefault(adapter.strip(), []).extend(_split([models]))
        else:
            common.extend(_split([value]))
    return common, per


def _models_field(value: Any, where: str) -> tuple[list[str], dict[str, list[str]]]:
    if isinstance(value, list) and all(isinstance(m, str) for m in value):
        return list(value), {}
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, list) and all(isinstance(m, str) for m in v)
                                       for k, v in value.items()):
        return [], {k: list(v) for k, v in value.items()}
    raise CabError(f"{where}: field models: expected a list of model ids or a table ADAPTER = [model ids], got {value!r}")


def load_sweep_file(path: Path) -> dict:
    """Read a sweep file into the overrides it sets (relative paths resolved against its folder).

    Raises :class:`CabError` with one line naming the file and the field.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CabError(f"{path}: sweep file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CabError(f"{path}: not valid TOML: {exc}") from None
    try:
        parsed = _strict.structure(raw, _SweepFile)
    except Exception as exc:
        raise CabError(f"{path}: {serialization.describe_structure_error(exc)}") from None
    out = {k: v for k, v in attrs.asdict(parsed).items() if v is not None}
    if "models" in out:
        out["models"], out["adapter_models"] = _models_field(out["models"], str(path))
    for name in ("results",):
        if name in out:
            out[name] = _relative_to(path, out[name])
    if "tasks_dirs" in out:
        out["tasks_dirs"] = [_relative_to(path, p) for p in out["tasks_dirs"]]
    try:
        _check(out)
    except CabError as exc:
        raise CabError(f"{path}: {exc}") from None
    out["source"] = str(path.resolve())
    return out


def _relative_to(sweep_file: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (sweep_file.resolve().parent / p)


def _check(values: Mapping[str, Any]) -> None:
    """Range checks shared by sweep files and flags; the message names the field."""
    for name in ("trials", "jobs"):
        if name in values and values[name] is not None and values[name] < 1:
            raise CabError(f"field {name}: must be at least 1, got {values[name]}")
    if values.get("retries") is not None and values["retries"] < 0:
        raise CabError(f"field retries: must be 0 or more, got {values['retries']}")
    if values.get("timeout") is not None and values["timeout"] <= 0:
        raise CabError(f"field timeout: must be positive, got {values['timeout']}")
    if values.get("worker_results") is not None and values["worker_results"] not in WORKER_RESULTS:
        raise CabError(f"field worker_results: must be one of {', '.join(WORKER_RESULTS)}, got {values['worker_results']!r}")
    sid = values.get("sweep_id")
    if sid is not None and (not re.fullmatch(r"[A-Za-z0-9_.-]+", sid) or sid in (".", "..")):
        raise CabError(f"field sweep_id: {sid!r} must be one folder name (letters, digits, '_', '.', '-')")


def build_spec(*layers: Mapping[str, Any], default_id: Optional[str] = None) -> SweepSpec:
    """Merge override layers (later wins; ``None`` values are skipped) into a checked spec."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if value is None:
                continue
            if key in ("adapter_models", "options", "weights") and key in merged:
                merged[key] = {**merged[key], **value}  # per adapter / per option: the later layer wins
            else:
                merged[key] = value
    _check(merged)
    if not merged.get("sweep_id"):
        merged["sweep_id"] = default_id or time.strftime("sweep-%Y%m%d-%H%M%S")
    per = merged.get("adapter_models") or {}
    if not merged.get("adapters"):
        merged["adapters"] = list(per)
    if not merged.get("adapters"):
        raise CabError("no adapters: pass --adapters A,B (or set adapters in the sweep file)")
    if not merged.get("tasks"):
        raise CabError("no tasks: pass --tasks PATTERN (e.g. 'polyglot/*'), or set tasks in the sweep file")
    spec = SweepSpec(**{k: v for k, v in merged.items() if k in FILE_FIELDS or k == "source"})
    for adapter in spec.adapters:
        if not spec.models_for(adapter):
            raise CabError(f"adapter {adapter!r} has no models (pass --models M1,M2 or --models {adapter}=M1,M2)")
    return spec


def resolve_tasks(spec: SweepSpec, catalog) -> list[str]:
    """Task ids matching the spec's patterns, sorted, each once."""
    ids: set[str] = set()
    for pattern in spec.tasks:
        ids.update(t.id for t in catalog.select(pattern))
    return sorted(ids)


def plan_cells(spec: SweepSpec, task_ids: Sequence[str]) -> list[RunOptions]:
    """Every cell of the matrix: trial-major, so a partial sweep is balanced across pairs."""
    results = spec.results.resolve()
    return [
        RunOptions(adapter=adapter, model=model, task=task, sweep_id=spec.sweep_id, trial=trial,
                   endpoint=spec.endpoint, api_key_env=spec.api_key_env, sandbox=spec.sandbox,
                   plugins=spec.plugins, options=dict(spec.options), timeout=spec.timeout, results=results,
                   score_options={OPTION_WEIGHTS: dict(spec.weights)} if spec.weights else {})
        for trial in range(1, spec.trials + 1)
        for task in task_ids
        for adapter, model in spec.pairs()
    ]


def cell_id_of(opts: RunOptions) -> CellId:
    """Where the cell of ``opts`` sits (its id and folder)."""
    return CellId(sweep=opts.sweep_id, adapter=opts.adapter, model=opts.model, task=opts.task, trial=opts.trial)


def validate(spec: SweepSpec, registry) -> None:
    """Names and settings a user can get wrong, checked before any cell runs."""
    for adapter in spec.adapters:
        check_options(registry.adapters.get(adapter), dict(spec.options))
    sandbox = registry.sandboxes.get(spec.sandbox)
    if sandbox.available is not None:
        why = sandbox.available()
        if why:
            raise CabError(f"sandbox {spec.sandbox!r} is not available: {why}")
    for name in spec.plugins:
        registry.agent_plugins.get(name)
    check_weights(spec.weights, registry)
    if spec.api_key_env and spec.api_key_env not in os.environ:
        raise CabError(f"environment variable {spec.api_key_env} is not set (--api-key-env names the variable holding the key)")
    executor = registry.executors.get(spec.executor)
    why = executor.available() if executor.available is not None else None
    if why:
        raise CabError(f"executor {spec.executor!r} is not available: {why}")


# --------------------------------------------------------------------------- state on disk


def cell_state(root: Path, opts: RunOptions) -> tuple[Optional[str], bool]:
    """``(status, passed)`` of the published cell; status ``None`` when it is missing or unreadable."""
    try:
        data = json.loads((Path(root) / cell_id_of(opts).relpath / CELL_FILE).read_text(encoding="utf-8"))
        status = data["status"]
        value = ((data.get("scores") or {}).get("pass_rate") or {}).get("value")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, False
    return status, isinstance(value, (int, float)) and value >= 1.0


def cell_status(root: Path, opts: RunOptions) -> Optional[str]:
    """The status of the published cell, ``None`` when it is missing or unreadable."""
    return cell_state(root, opts)[0]


def read_attempts(sweep_root: Path) -> dict[str, int]:
    """Infrastructure-error attempts per cell id (torn last lines of a killed writer are skipped)."""
    counts: dict[str, int] = {}
    try:
        text = (Path(sweep_root) / ATTEMPTS_FILE).read_text(encoding="utf-8")
    except OSError:
        return counts
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("status") == STATUS_INFRA_ERROR:
            counts[entry.get("cell", "")] = counts.get(entry.get("cell", ""), 0) + 1
    return counts


def _end_torn_line(sweep_root: Path) -> None:
    """A killed writer may have left half a line: end it, so the next entry starts clean."""
    path = Path(sweep_root) / ATTEMPTS_FILE
    try:
        with open(path, "rb+") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
    except OSError:
        pass


def _append_attempt(sweep_root: Path, entry: dict) -> None:
    # One write of one line with O_APPEND: lines of concurrent writers never interleave.
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
    fd = os.open(Path(sweep_root) / ATTEMPTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_manifest(sweep_root: Path) -> Optional[dict]:
    """The sweep's ``sweep.json``, or ``None`` when there is none (or it does not parse)."""
    try:
        return json.loads((Path(sweep_root) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_manifest(sweep_root: Path, manifest: dict) -> None:
    """Replace the sweep's ``sweep.json`` atomically."""
    _replace_file(Path(sweep_root) / MANIFEST_FILE, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def _replace_file(path: Path, text: str) -> None:
    """Atomic replace that keeps the file readable like its neighbours (mkstemp makes it 0600)."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    atomic_write_text(path, text)
    os.chmod(path, mode)


def spec_from_manifest(manifest: Mapping[str, Any]) -> dict:
    """The override layer a manifest gives (its recorded matrix)."""
    matrix = dict(manifest.get("matrix") or {})
    return {k: v for k, v in matrix.items() if k in FILE_FIELDS or k == "source"}


def latest_sweep(results: Path, source: Optional[str] = None) -> Optional[str]:
    """The most recently updated sweep below ``results`` (made from ``source``, if given)."""
    best = None
    root = Path(results)
    if not root.is_dir():
        return None
    for folder in root.iterdir():
        manifest = read_manifest(folder) if folder.is_dir() else None
        if not manifest:
            continue
        if source is not None and (manifest.get("matrix") or {}).get("source") != source:
            continue
        stamp = (folder / MANIFEST_FILE).stat().st_mtime
        if best is None or stamp > best[0]:
            best = (stamp, folder.name)
    return best[1] if best else None


@contextlib.contextmanager
def sweep_lock(sweep_root: Path):
    """Hold the sweep's lock (one coordinator per sweep); released by the OS if we are killed."""
    sweep_root.mkdir(parents=True, exist_ok=True)
    fh = open(sweep_root / LOCK_FILE, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise CabError(f"sweep {sweep_root.name!r} is being run by {holder}; wait for it or pick another --sweep-id") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
        fh.flush()
        yield
    finally:
        fh.close()


def clean_stale(sweep_root: Path) -> int:
    """Tidy what a killed run left: staging folders of dead writers, and replaced cells.

    Each cell folder with leftovers goes through :func:`cab_core.results.recover`,
    which puts back a previous cell whose replacement died between its two renames
    and removes staging folders whose owner is gone.  Returns the cells looked at.
    """
    finals = set()
    for path in Path(sweep_root).rglob(".*"):
        match = re.match(r"^\.(.+?)\.(?:staging|old)-", path.name)
        if match and path.is_dir():
            finals.add(path.parent / match.group(1))
    for final in sorted(finals):
        recover(final)
    return len(finals)


# --------------------------------------------------------------------------- executors


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


def run_sweep(spec: SweepSpec, registry, catalog, *, observer: Optional[SweepObserver] = None,
              runner: Optional[Runner] = None, executor=None, poll_s: float = 0.5) -> SweepReport:
    """Run (or resume) the sweep ``spec``: every missing cell, infra errors up to the retry budget.

    Then normalise the sweep and update the index.  ``runner`` (local executor) or
    ``executor`` may be given by the caller (tests); otherwise they are built here.
    """
    observer = observer or SweepObserver()
    validate(spec, registry)
    task_ids = resolve_tasks(spec, catalog)
    cells = plan_cells(spec, task_ids)
    sweep_root = spec.root.resolve()
    results_root = spec.results.resolve()
    t0 = time.perf_counter()
    with sweep_lock(sweep_root):
        clean_stale(sweep_root)
        _end_torn_line(sweep_root)
        attempts = read_attempts(sweep_root)
        todo: deque[RunOptions] = deque()
        passing = complete = 0
        for opts in cells:
            status, passed = cell_state(results_root, opts)
            if status == STATUS_OK:
                complete += 1
                passing += passed
            elif status == STATUS_INFRA_ERROR and max(attempts.get(cell_id_of(opts).cell_id, 0), 1) > spec.retries:
                complete += 1  # retry budget spent: it stays an infrastructure error
            else:
                todo.append(opts)
        skipped = complete

        own_executor = executor is None
        if executor is None and todo:
            executor = registry.executors.get(spec.executor).open(spec=spec, registry=registry, catalog=catalog,
                                                                  runner=runner)

        manifest = read_manifest(sweep_root) or {"schema_version": MANIFEST_VERSION, "sweep_id": spec.sweep_id,
                                                  "created_at": serialization.unstructure(utcnow()), "runs": []}
        manifest.update(matrix=spec.matrix(), task_ids=task_ids, cells=len(cells))
        manifest["updated_at"] = serialization.unstructure(utcnow())
        manifest.setdefault("runs", []).append({
            "started_at": manifest["updated_at"], "host": socket.gethostname(), "pid": os.getpid(),
            "executor": spec.executor, "jobs": spec.jobs, "to_run": len(todo), "status": "running"})
        write_manifest(sweep_root, manifest)
        observer.started(sweep_id=spec.sweep_id, total=len(cells), complete=complete, passing=passing, to_run=len(todo))

        inflight: dict[Any, RunOptions] = {}
        ran = retried = 0
        stopping = abandoned = False
        index = _index.ensure(results_root)
        try:
            while (todo and not stopping) or inflight:
                try:
                    while todo and not stopping and len(inflight) < executor.slots:
                        opts = todo.popleft()
                        inflight[executor.submit(opts)] = opts
                    for handle in executor.wait(list(inflight), poll_s):
                        opts = inflight.pop(handle)
                        outcome = _outcome(executor, handle, opts)
                        ran += 1
                        cid = cell_id_of(opts).cell_id
                        _append_attempt(sweep_root, {
                            "cell": cid, "status": outcome.status, "passed": outcome.passed, "worker": outcome.worker,
                            "at": serialization.unstructure(utcnow()), "error": outcome.error})
                        retrying = False
                        if outcome.status == STATUS_INFRA_ERROR:
                            attempts[cid] = attempts.get(cid, 0) + 1
                            if attempts[cid] <= spec.retries and not stopping:
                                todo.append(opts)
                                retried += 1
                                retrying = True
                        if not retrying:
                            complete += 1
                            passing += bool(outcome.passed)
                        if outcome.path is not None:
                            with contextlib.suppress(Exception):
                                index.upsert_cell(read_cell(outcome.path), outcome.path)
                        observer.cell_finished(outcome, done=complete, total=len(cells), passing=passing,
                                               retrying=retrying)
                except KeyboardInterrupt:
                    if stopping:
                        abandoned = True
                        raise
                    stopping = True
                    observer.message(f"interrupted: finishing the {len(inflight)} cells in flight, starting no more "
                                     "(Ctrl-C again to abandon them)")
        finally:
            if own_executor and executor is not None:
                executor.close(wait=not abandoned)
            if abandoned:
                index.close()

        references = normalise(sweep_root, registry, catalog) if not stopping else {}
        index.sync(sweep_root)
        statuses = [cell_status(results_root, o) for o in cells]
        report = SweepReport(
            sweep_id=spec.sweep_id, root=sweep_root, total=len(cells), skipped=skipped, ran=ran, retried=retried,
            passing=passing, infra_errors=sum(1 for s in statuses if s == STATUS_INFRA_ERROR),
            missing=sum(1 for s in statuses if s is None), elapsed_s=time.perf_counter() - t0,
            interrupted=stopping, references=references,
        )
        manifest = read_manifest(sweep_root) or manifest
        manifest["runs"][-1].update(ended_at=serialization.unstructure(utcnow()), ran=ran, skipped=skipped,
                                    retried=retried, status="interrupted" if stopping else "finished",
                                    elapsed_s=round(report.elapsed_s, 3))
        manifest["updated_at"] = serialization.unstructure(utcnow())
        if not stopping:
            manifest["normalisation"] = {"formula": NORMALISATION_FORMULA, "references": references}
        write_manifest(sweep_root, manifest)
        index.upsert_sweep(spec.sweep_id, manifest)
        index.close()
    observer.finished(report)
    return report


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


__all__ = [
    "SweepSpec", "SweepObserver", "SweepReport", "CellOutcome",
    "build_spec", "load_sweep_file", "parse_models", "plan_cells", "resolve_tasks", "run_sweep",
    "normalise", "compute_references", "latest_sweep", "read_manifest", "spec_from_manifest",
    "MANIFEST_FILE", "NORMALISATION_FORMULA",
]
