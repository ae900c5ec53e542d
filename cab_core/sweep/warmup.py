"""The first cell's one-time work, done beside the sweep's start rather than on that cell's clock (issue 16).

A process's first cell builds what every later cell reuses: the task's template (its
starting files committed by four git processes, :mod:`cab_core.workspace.template`),
cattrs' generated functions that write and read a :class:`~cab_core.models.CellResult`,
and the host's platform string (``uname -p``, a process).  Measured on a trivial cell
they made the first cell's overhead ~270 ms against ~75 ms for the others.

:func:`start` does that work in one daemon thread as soon as a sweep knows its first
cells: the git processes run while the coordinator opens the executor and the manifest,
then cattrs' functions are built while the first cell waits for its sandbox and its
tests.  Those functions are Python work: built while the coordinator still starts
the sweep, they competed with it for the interpreter and put off the first cell's start
by as much; so they wait for a command to be running (:func:`_while_a_command_runs`,
:mod:`cab_core.sandbox.quiet`: the first cell's tests, which leave the interpreter idle),
at most :data:`~cab_core.sandbox.quiet.MAX_WAIT_S`.  Meanwhile the coordinator itself (:func:`preload`, before it submits the first
cell) imports what that cell would import on its way, so the cell finds them done
instead of paying them after waiting for its template.  Everything warmed is a cache
the cell would fill itself, behind the same lock (the template's), so the cell gets the
same thing either way; a warm-up that fails is silent and the cell does the work
itself, reporting any error as its own.
The warm-up thread imports nothing (two threads importing one import cycle can see a
module half-initialised): it only calls functions of modules already imported.
"""

from __future__ import annotations

import importlib
import platform
import sys
import threading
import typing
from pathlib import Path
from typing import Iterable, Optional

import attrs

from .. import serialization
from ..models import CellResult
from ..sandbox import quiet
from ..workspace import template


def start(tasks: Iterable[object]) -> Optional[threading.Thread]:
    """Warm the caches the first cells of ``tasks`` (:class:`~cab_core.models.Task` records) will use.

    Returns the started daemon thread (``None`` with no task); never raises.
    """
    tasks = list(tasks)
    if not tasks:
        return None
    thread = threading.Thread(target=_warm, args=(tasks,), name="cab-warmup", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # no thread to spare (the interpreter stopping): the cells do it themselves
        return None
    return thread


#: Modules the first cell imports on its way (the recording proxy and the model server it
#: starts): imported by :func:`preload` while the template's git processes run.  The price
#: database's version, which its record names, is looked up there too (:func:`_price_database`).
CELL_MODULES = ("cab_core.cassette", "cab_core.proxy", "cab_core.endpoint.proxy", "cab_core.modelserver",
                "cab_core.environment", "cab_core.verdict.runtime", "cab_core.sandbox.mounts")


def python_runtimes(tasks: Iterable[object]) -> Optional[threading.Thread]:
    """On a daemon thread, the folders the first cells' sandboxes show for the Python on their PATH
    (``sys.path`` asked of that Python: one process, ~50 ms, which was the first cell's sandbox's);
    call after :func:`preload` (it uses only modules imported by then)."""
    tasks = list(tasks)
    thread = threading.Thread(target=_python_runtimes, args=(tasks,), name="cab-warmup-runtimes", daemon=True)
    try:
        thread.start()
    except RuntimeError:
        return None
    return thread


def relay_probe() -> Optional[threading.Thread]:
    """On a daemon thread, whether the local sandbox may open sockets in bubblewrap's network
    namespaces (a bwrap process, ~10-15 ms, probed once per process: the first cell's agent waited for it)."""
    local, netrelay = sys.modules.get("cab_core.sandbox.local"), sys.modules.get("cab_core.sandbox.netrelay")
    if local is None or netrelay is None:
        return None
    bwrap = local.bwrap_path()
    if not bwrap:
        return None
    thread = threading.Thread(target=_quietly, args=(netrelay.supported, bwrap), name="cab-warmup-relay", daemon=True)
    try:
        thread.start()
    except RuntimeError:
        return None
    return thread


def _python_runtimes(tasks: list) -> None:
    environment = sys.modules.get("cab_core.environment")
    runtime = sys.modules.get("cab_core.verdict.runtime")
    mounts = sys.modules.get("cab_core.sandbox.mounts")
    if environment is None or runtime is None or mounts is None:
        return
    seen: set = set()
    for task in tasks:
        try:  # the cell's own calls (cached per process): its test runtime, then what its PATH shows
            bin_dir = runtime.preflight(task, environment.agent_env(Path("/"), "")["PATH"])
            env = environment.agent_env(Path("/"), "", runtime=bin_dir)
        except Exception:  # noqa: BLE001  (a missing toolchain: the cell reports it)
            continue
        if env["PATH"] not in seen:
            seen.add(env["PATH"])
            _quietly(mounts.toolchain_mounts, env)


def preload() -> None:
    """In the calling (coordinator's) thread, the imports the first cell would otherwise do on its clock.

    Called right after :func:`start`, before the first cell is submitted: the imports cost
    the coordinator's CPU while the template's git processes run, where the first cell
    would have waited for that template and then paid them.  Done here, not in the
    warm-up thread, so no two threads import at once.
    """
    for name in CELL_MODULES:
        _quietly(importlib.import_module, name)
    _quietly(_price_database)


def _record_types(root: type) -> list:
    """``root`` and every attrs class its fields name, at any depth (tuples, mappings, optionals)."""
    found: list = []

    def walk(tp) -> None:
        if attrs.has(tp) and isinstance(tp, type):
            if tp in found:
                return
            found.append(tp)
            attrs.resolve_types(tp)
            for field in attrs.fields(tp):
                walk(field.type)
        for arg in typing.get_args(tp):
            walk(arg)

    try:
        walk(root)
    except Exception:  # noqa: BLE001  (an annotation that does not resolve: the cell builds what it needs)
        pass
    return found


def _price_database() -> None:
    """The price database's version, which every record names (its first lookup reads every distribution)."""
    from .. import pricing

    pricing.database()


def _warm(tasks: list) -> None:
    for task in tasks:  # processes: they run beside the coordinator's work
        _quietly(template.template, task)
    _quietly(platform.platform)  # ``uname -p``
    _while_a_command_runs()
    # cattrs' functions (no import: tested), built while the first cell waits for its tests;
    # a tuple's element functions are made on first use, so every record type a cell holds is named
    for cls in _record_types(CellResult):
        _quietly(serialization.converter.get_unstructure_hook, cls)
        _quietly(serialization.converter.get_structure_hook, cls)


def _while_a_command_runs() -> None:
    """Return once a command has been running a while (at most ``quiet.MAX_WAIT_S`` after the call)."""
    running = threading.Event()
    quiet.later(running.set, tag="cab-warmup")
    running.wait(quiet.MAX_WAIT_S + 1)


def _quietly(function, *args) -> None:
    try:
        function(*args)
    except Exception:  # noqa: BLE001  (the cell does this again and reports its own error)
        pass


__all__ = ["preload", "python_runtimes", "relay_probe", "start"]
