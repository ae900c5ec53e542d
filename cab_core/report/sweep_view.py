"""What a sweep's page shows, as plain data: the task matrix, latency samples, its manifest.

The statistics themselves come from :mod:`cab_core.stats` over the refs' index rows;
this module only arranges them (and the manifest the sweep wrote, scrubbed) for the page.
"""

from __future__ import annotations

import json
import shlex
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..secrets import Scrubber
from .format import compact_json, one_line
from .load import CellRef


def group_label(adapter: str, model: str) -> str:
    return f"{adapter} × {model}"


def matrix_view(refs: Sequence[CellRef], board: Sequence[Mapping[str, Any]]) -> dict:
    """Tasks (rows, grouped by category) × adapter/model (columns, leaderboard order); trials side by side."""
    columns = [(e["adapter"], e["model"]) for e in board]
    col_index = {key: i for i, key in enumerate(columns)}
    by_task: dict[str, list[list[CellRef]]] = {}
    for ref in refs:
        key = (ref.row["adapter"], ref.row["model"])
        if key not in col_index:
            continue
        cells = by_task.setdefault(ref.row["task"], [[] for _ in columns])
        cells[col_index[key]].append(ref)
    rows = []
    for task in sorted(by_task):
        cells = by_task[task]
        for c in cells:
            c.sort(key=lambda r: r.row["trial"])
        scored = [r for c in cells for r in c if r.row.get("status") == "ok"]
        passes = sum(1 for r in scored if r.row.get("passed"))
        rows.append({"task": task, "category": task.split("/", 1)[0], "cells": cells,
                     "pass_rate": passes / len(scored) if scored else None})
    return {"columns": [{"adapter": a, "model": m, "label": group_label(a, m)} for a, m in columns], "rows": rows}


def latency_samples(refs: Sequence[CellRef]) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for ref in refs:
        r = ref.row
        if r.get("status") == "ok" and r.get("wall_clock_ms") is not None:
            out[(r["adapter"], r["model"])].append(float(r["wall_clock_ms"]))
    return out


def sweep_span(refs: Sequence[CellRef]) -> tuple[str, str]:
    """When the sweep's first cell started and its last ended, to the minute (UTC)."""
    starts = sorted(r.row["started_at"] for r in refs if r.row.get("started_at"))
    ends = sorted(r.row["ended_at"] for r in refs if r.row.get("ended_at"))

    def short(text: str) -> str:
        return text[:16].replace("T", " ") + " UTC" if len(text) >= 16 else text

    return (short(starts[0]) if starts else "–", short(ends[-1]) if ends else "–")


def read_manifest(root: Path, sweep: str, scrubber: Scrubber) -> Optional[dict]:
    """The sweep's manifest (``<results>/<sweep>/sweep.json``) when there is one, scrubbed."""
    for candidate in (Path(root) / sweep / "sweep.json", Path(root) / "sweep.json"):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            if isinstance(data, Mapping) and data.get("sweep_id", sweep) == sweep:
                return scrubber.tree(data)
    return None


def sweep_command(manifest: Mapping[str, Any]) -> Optional[str]:
    """The ``cab sweep`` command that reruns a sweep, from its manifest's matrix (never a key)."""
    matrix = manifest.get("matrix")
    if not isinstance(matrix, Mapping) or not matrix.get("adapters"):
        return None
    parts = ["cab", "sweep", "--adapters", ",".join(map(str, matrix["adapters"]))]
    if matrix.get("models"):
        parts += ["--models", ",".join(map(str, matrix["models"]))]
    for adapter, models in (matrix.get("adapter_models") or {}).items():
        parts += ["--models", f"{adapter}=" + ",".join(map(str, models))]
    for pattern in matrix.get("tasks") or ():
        parts += ["--tasks", str(pattern)]
    if matrix.get("trials", 1) != 1:
        parts += ["--trials", str(matrix["trials"])]
    if matrix.get("sandbox", "local") != "local":
        parts += ["--sandbox", str(matrix["sandbox"])]
    for flag in ("endpoint", "api_key_env"):
        if matrix.get(flag):
            parts += [f"--{flag.replace('_', '-')}", str(matrix[flag])]
    for name in matrix.get("plugins") or ():
        parts += ["--plugin", str(name)]
    for key, value in (matrix.get("options") or {}).items():
        parts += ["-o", f"{key}={value}"]
    parts += ["--sweep-id", str(manifest.get("sweep_id") or matrix.get("sweep_id"))]
    return shlex.join(parts)


def manifest_rows(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The manifest's fields as short (key, text) pairs; long lists summarised."""
    rows = []
    for key, value in manifest.items():
        if isinstance(value, (list, tuple)):
            text = ", ".join(str(v) if not isinstance(v, (dict, list)) else compact_json(v) for v in value[:12])
            if len(value) > 12:
                text += f" … ({len(value)} in all)"
        elif isinstance(value, Mapping):
            text = compact_json(value)
        else:
            text = "–" if value is None else str(value)
        rows.append((str(key), one_line(text, 300)))
    return rows
