"""An example lifecycle-hook plugin: every finished cell, and optionally every span, as a line of JSON.

What it shows: the lifecycle hooks ``cab_cell_finished(result, path)`` and
``cab_span_finished(cell, span)`` (see :mod:`cab_core.hookspecs`), serialising cab's
records with its one converter (:func:`cab_core.serialization.unstructure`), and
writing from many cells at once safely.

Off unless ``CAB_EXPORT_JSONL`` names a file; then each finished cell appends one line::

    {"event": "cell", "cell_id": ..., "status": ..., "path": ..., "passed": ...,
     "scores": {"pass_rate": 1.0, ...}, "duration_s": ..., "ended_at": ...}

With ``CAB_EXPORT_JSONL_SPANS=1`` each finished span appends
``{"event": "span", "cell_id": ..., "span": {...}}`` as well.  The records cab hands to
the hooks have secrets masked already.  Each line is written with one ``write`` on a
file opened for appending under an exclusive ``flock``, so cells running in parallel
(``cab sweep --jobs N``, even across processes) never interleave their lines.  An
exception here is reported by cab with this plugin's name and never fails a cell.

Usage::

    pip install -e examples/cab-exporter-jsonl
    CAB_EXPORT_JSONL=cells.jsonl cab sweep --adapters command --models oracle --tasks 'polyglot/*'
"""

from __future__ import annotations

import fcntl
import json
import os
from typing import Any

from cab_core import hookimpl
from cab_core.serialization import unstructure

FILE_VAR = "CAB_EXPORT_JSONL"
SPANS_VAR = "CAB_EXPORT_JSONL_SPANS"


def append_line(path: str, record: dict[str, Any]) -> None:
    """Append ``record`` to ``path`` as one JSON line, atomically with respect to other writers."""
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


def cell_line(result, path) -> dict[str, Any]:
    """The line written for one finished cell: identity, outcome, and each axis's value."""
    return {
        "event": "cell",
        "cell_id": result.cell_id,
        "status": result.status,
        "error": result.error,
        "passed": result.passed,
        "scores": {axis: score.value for axis, score in sorted(result.scores.items())},
        "duration_s": result.duration_s,
        "ended_at": result.ended_at.isoformat(),
        "path": str(path),
    }


@hookimpl
def cab_cell_finished(result, path):
    target = os.environ.get(FILE_VAR)
    if target:
        append_line(target, cell_line(result, path))


@hookimpl
def cab_span_finished(cell, span):
    target = os.environ.get(FILE_VAR)
    if target and os.environ.get(SPANS_VAR) == "1":
        append_line(target, {"event": "span", "cell_id": cell.cell_id, "span": unstructure(span)})
