"""The first cell's one-time work, done beside the sweep's start rather than on that cell's clock (issue 16).

A process's first cell builds what every later cell reuses: the task's template (its
starting files committed by four git processes, :mod:`cab_core.workspace.template`),
cattrs' generated functions that write and read a :class:`~cab_core.models.CellResult`,
and the host's platform string (``uname -p``, a process).  Measured on a trivial cell
they made the first cell's overhead ~270 ms against ~75 ms for the others.

:func:`start` does that work in one daemon thread as soon as a sweep knows its first
cells: the git processes run while the coordinator opens the executor and the manifest,
and the generated functions are built while the first cell waits for its sandbox and
its tests.  Everything warmed is a cache the cell would fill itself, behind the same
lock (the template's), so the cell gets the same thing either way; a warm-up that
fails is silent and the cell does the work itself, reporting any error as its own.
Nothing here imports a module (two threads importing one import cycle can see a module
half-initialised): only functions of modules the sweep has already imported are called.
"""

from __future__ import annotations

import platform
import threading
from typing import Iterable, Optional

from .. import serialization
from ..models import CellResult
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


def _warm(tasks: list) -> None:
    for task in tasks:  # processes first: they run beside everything else
        _quietly(template.template, task)
    _quietly(serialization.converter.get_unstructure_hook, CellResult)
    _quietly(serialization.converter.get_structure_hook, CellResult)
    _quietly(platform.platform)


def _quietly(function, *args) -> None:
    try:
        function(*args)
    except Exception:  # noqa: BLE001  (the cell does this again and reports its own error)
        pass


__all__ = ["start"]
