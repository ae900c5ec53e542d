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
    max_model_calls = 50            # per-cell budgets (also max_tokens, max_cost in dollars), enforced by the proxy
    [prices]                        # dollars per million tokens: MODEL = [input, output(, cached input)]
    "my-local-model" = [0.5, 1.5]

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

The package: :mod:`.spec` (the matrix and the sweep file), :mod:`.state` (what is on
disk: done cells, attempts, manifest, lock), :mod:`.run` (running it),
:mod:`.executors` (the built-in executors, a default plugin) and
:mod:`.normalisation`.
"""

from ..lazy import lazy_exports

# What each name is imported from, on first use (PEP 562): the package is imported by
# the executors' default plugin (``cab_core.sweep.executors``) whenever plugins load, so
# ``cab plugins`` or ``cab tasks`` must not pay for the runner, the proxy and aiohttp
# that :mod:`.run` brings (issue 16: start-up).
_EXPORTS = {
    "..index": ("MANIFEST_FILE",),
    ".normalisation": ("NORMALISATION_FORMULA", "compute_references", "normalise"),
    ".run": ("CellOutcome", "SweepObserver", "SweepReport", "run_sweep"),
    ".spec": ("FILE_FIELDS", "SweepSpec", "build_spec", "cell_id_of", "load_sweep_file", "parse_models", "plan_cells",
              "resolve_tasks", "validate"),
    ".state": ("ATTEMPTS_FILE", "LOCK_FILE", "MANIFEST_VERSION", "cell_state", "cell_status", "clean_stale",
               "latest_sweep", "read_attempts", "read_manifest", "spec_from_manifest", "sweep_lock", "write_manifest"),
}
__getattr__, __dir__ = lazy_exports(__name__, {name: module for module, names in _EXPORTS.items() for name in names},
                                   globals())


__all__ = [
    "SweepSpec", "SweepObserver", "SweepReport", "CellOutcome", "FILE_FIELDS",
    "build_spec", "load_sweep_file", "parse_models", "plan_cells", "resolve_tasks", "run_sweep", "validate",
    "normalise", "compute_references", "latest_sweep", "read_manifest", "write_manifest", "spec_from_manifest",
    "cell_state", "cell_status", "cell_id_of", "clean_stale", "read_attempts", "sweep_lock",
    "MANIFEST_FILE", "ATTEMPTS_FILE", "LOCK_FILE", "MANIFEST_VERSION", "NORMALISATION_FORMULA",
]
