"""The results index: one SQLite file (standard library) beside the cell folders.

``<results>/index.sqlite`` holds one row per cell (``cells``), one per cell and
axis (``scores``, with the breakdown as JSON text; every axis, a third party's
included, with the ``axis_values`` view beside it: one row per cell and axis with
the cell's identity) and one per sweep (``sweeps``, its manifest).  The ``cells``
table's axis columns (tokens, blast radius, refusal ...) are kept for the HTML
report until it reads the ``scores`` table.  It is derived data: the cell files are the truth, and the index
is brought up to date from them (:func:`sync`: cells whose ``cell.json`` changed
are re-read, vanished ones dropped) or rebuilt whole when it is missing or
unreadable (:func:`ensure`).  So ``sqlite3 results/index.sqlite`` or
``datasette results/index.sqlite`` can query every run, e.g.::

    SELECT adapter, model, avg(passed) FROM cells WHERE sweep = 'nightly' AND status = 'ok'
    GROUP BY adapter, model;

Only one process writes at a time (the sweep coordinator or ``cab index``);
SQLite's own locking makes concurrent writers wait rather than corrupt it.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from . import serialization
from .models import CellResult
from .pricing import total_cost
from .results import CELL_FILE, iter_cell_dirs, read_cell

INDEX_FILE = "index.sqlite"
#: A sweep's manifest, beside its cell folders (written by :mod:`cab_core.sweep`, read here too).
MANIFEST_FILE = "sweep.json"
SCHEMA_VERSION = 2  # 2: cells.cost_usd

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id TEXT PRIMARY KEY,
    manifest TEXT,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS cells (
    cell_id TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    adapter TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    trial INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    passed INTEGER,
    composite REAL,
    cell_composite REAL,
    total_tokens INTEGER,
    tokens_per_correct REAL,
    wall_clock_ms REAL,
    blast_radius REAL,
    integrity REAL,
    expected_refusal INTEGER,
    refusal_produced INTEGER,
    refusal_correct INTEGER,
    duration_s REAL,
    started_at TEXT,
    ended_at TEXT,
    exit_code INTEGER,
    timed_out INTEGER,
    sandbox TEXT,
    isolation TEXT,
    agent_version TEXT,
    model_build_id TEXT,
    path TEXT NOT NULL,
    mtime_ns INTEGER,
    size INTEGER,
    cost_usd REAL
);
CREATE INDEX IF NOT EXISTS cells_sweep ON cells (sweep, adapter, model);
CREATE TABLE IF NOT EXISTS scores (
    cell_id TEXT NOT NULL REFERENCES cells (cell_id) ON DELETE CASCADE,
    axis TEXT NOT NULL,
    value REAL,
    not_applicable INTEGER,
    error TEXT,
    scorer TEXT,
    breakdown TEXT,
    PRIMARY KEY (cell_id, axis)
);
CREATE VIEW IF NOT EXISTS axis_values AS
    SELECT c.sweep, c.adapter, c.model, c.task, c.trial, c.status, s.axis, s.value, s.not_applicable, s.error, s.scorer
    FROM cells c JOIN scores s USING (cell_id);
CREATE VIEW IF NOT EXISTS pass_rates AS
    SELECT sweep, adapter, model, count(*) AS cells, sum(status = 'ok') AS scored,
           sum(status = 'ok' AND passed) AS passes,
           1.0 * sum(status = 'ok' AND passed) / nullif(sum(status = 'ok'), 0) AS pass_rate,
           avg(CASE WHEN status = 'ok' THEN composite END) AS mean_composite
    FROM cells GROUP BY sweep, adapter, model;
"""

CELL_COLUMNS = (
    "cell_id", "sweep", "adapter", "model", "task", "trial", "status", "error", "passed", "composite",
    "cell_composite", "total_tokens", "tokens_per_correct", "wall_clock_ms", "blast_radius", "integrity",
    "expected_refusal", "refusal_produced", "refusal_correct", "duration_s", "started_at", "ended_at",
    "exit_code", "timed_out", "sandbox", "isolation", "agent_version", "model_build_id", "path", "cost_usd",
)


def _value(result: CellResult, axis: str) -> Optional[float]:
    score = result.scores.get(axis)
    return None if score is None else score.value


def _number(value: Any) -> Optional[float]:
    """A breakdown's number, or None for anything else (a plugin's breakdown may hold any JSON)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _bool(value: Any) -> Optional[int]:
    return None if value is None else int(bool(value))


def cell_row(result: CellResult, path: str = "") -> dict:
    """The flat row of one cell: what the ``cells`` table and :mod:`cab_core.stats` read."""
    tokens = result.scores.get("tokens")
    refusal = result.scores.get("refusal")
    composite = result.scores.get("composite")
    rb = dict(refusal.breakdown) if refusal else {}
    norm = composite.breakdown.get("normalisation") if composite else None
    norm = dict(norm) if isinstance(norm, Mapping) else {}
    ident = result.identity
    return {
        "cell_id": result.cell_id,
        "sweep": ident.sweep,
        "adapter": ident.adapter,
        "model": ident.model,
        "task": ident.task,
        "trial": ident.trial,
        "status": result.status,
        "error": result.error,
        "passed": _bool(result.passed),
        "composite": result.composite,
        "cell_composite": _number(norm.get("cell_composite", result.composite)),
        "total_tokens": _number(tokens.breakdown.get("total_tokens")) if tokens else None,
        "tokens_per_correct": _value(result, "tokens"),
        "wall_clock_ms": _value(result, "latency"),
        "blast_radius": _value(result, "blast_radius"),
        "integrity": _value(result, "integrity"),
        "expected_refusal": _bool(rb.get("expected_refusal")),
        "refusal_produced": _bool(rb.get("refusal_produced")),
        "refusal_correct": _bool(rb.get("refusal_correct")),
        "duration_s": result.duration_s,
        "started_at": serialization.unstructure(result.started_at),
        "ended_at": serialization.unstructure(result.ended_at),
        "exit_code": result.exit_code,
        "timed_out": int(result.timed_out),
        "sandbox": result.sandbox,
        "isolation": result.isolation,
        "agent_version": result.agent_version,
        "model_build_id": result.model_build_id,
        "path": path,
        # Dollars from the cell's priced model calls (0 when the scripted server answered); null when a price is
        # unknown, never 0.
        "cost_usd": total_cost(result.model_calls),
        # Every axis's value, whoever scored it (the ``scores`` table holds them; not a cells column).
        "axes": {axis: score.value for axis, score in result.scores.items()},
    }


class Index:
    """An open results index; use as a context manager or call :meth:`close`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = self.root / INDEX_FILE
        self.root.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA journal_mode = WAL")
        # Derived data: losing the last commit to a power cut is fine (sync rebuilds it), an fsync per cell is not.
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(_SCHEMA)
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self.conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self.conn.commit()
        elif row[0] != str(SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"index schema {row[0]}, expected {SCHEMA_VERSION}")

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ writing
    def upsert_cell(self, result: CellResult, folder: Path, *, commit: bool = True) -> None:
        """Insert or replace one cell and its axes."""
        folder = Path(folder)
        stat = (folder / CELL_FILE).stat()
        row = cell_row(result, _relative(folder, self.root))
        row.pop("axes")
        row["mtime_ns"], row["size"] = stat.st_mtime_ns, stat.st_size
        self.conn.execute("DELETE FROM cells WHERE cell_id = ?", (result.cell_id,))
        cols = list(row)
        self.conn.execute(f"INSERT INTO cells ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                          [row[c] for c in cols])
        self.conn.executemany(
            "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(result.cell_id, axis, s.value, int(s.not_applicable), s.error, s.scorer,
              json.dumps(serialization.unstructure(s.breakdown), ensure_ascii=False))
             for axis, s in result.scores.items()],
        )
        if commit:
            self.conn.commit()

    def upsert_sweep(self, sweep_id: str, manifest: dict) -> None:
        """Record a sweep's manifest (``sweep.json``)."""
        self.conn.execute("INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?)",
                          (sweep_id, json.dumps(manifest, ensure_ascii=False), manifest.get("updated_at")))
        self.conn.commit()

    def sync(self, under: Optional[Path] = None) -> dict:
        """Bring the index up to date with the cell files below ``under`` (default: all of root).

        Returns counts: ``{"cells", "updated", "removed", "unreadable"}``.
        """
        base = Path(under) if under is not None else self.root
        prefix = _relative(base, self.root)
        query, args = "SELECT path, mtime_ns, size, cell_id FROM cells", ()
        if prefix not in ("", "."):
            query += " WHERE path = ? OR path LIKE ? ESCAPE '\\'"
            args = (prefix, _like_prefix(prefix))
        known = {r["path"]: (r["mtime_ns"], r["size"], r["cell_id"]) for r in self.conn.execute(query, args)}
        seen = set()
        updated = unreadable = 0
        if base.is_dir():
            for folder in iter_cell_dirs(base):
                rel = _relative(folder, self.root)
                seen.add(rel)
                try:
                    stat = (folder / CELL_FILE).stat()
                except OSError:
                    continue
                old = known.get(rel)
                if old is not None and old[0] == stat.st_mtime_ns and old[1] == stat.st_size:
                    continue
                try:
                    result = read_cell(folder)
                except Exception:
                    unreadable += 1
                    if old is not None:  # what the file said before is not what it says now: drop the stale row
                        self.conn.execute("DELETE FROM cells WHERE cell_id = ?", (old[2],))
                    continue
                if old is not None and old[2] != result.cell_id:
                    self.conn.execute("DELETE FROM cells WHERE cell_id = ?", (old[2],))
                self.upsert_cell(result, folder, commit=False)
                updated += 1
        gone = [v[2] for p, v in known.items() if p not in seen]
        self.conn.executemany("DELETE FROM cells WHERE cell_id = ?", [(c,) for c in gone])
        for manifest_path in _manifests(base, self.root):
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            self.conn.execute("INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?)",
                              (manifest.get("sweep_id", manifest_path.parent.name),
                               json.dumps(manifest, ensure_ascii=False), manifest.get("updated_at")))
        self.conn.commit()
        count = self.conn.execute("SELECT count(*) FROM cells").fetchone()[0]
        return {"cells": count, "updated": updated, "removed": len(gone), "unreadable": unreadable}

    # ------------------------------------------------------------------ reading
    def rows(self, sweep: Optional[str] = None) -> list[dict]:
        """Cell rows (all, or one sweep's), ordered by identity; ``axes`` maps every axis to its value."""
        query = f"SELECT {', '.join(CELL_COLUMNS)} FROM cells"
        args: tuple = ()
        if sweep is not None:
            query += " WHERE sweep = ?"
            args = (sweep,)
        query += " ORDER BY sweep, adapter, model, task, trial"
        rows = [dict(r) for r in self.conn.execute(query, args)]
        axes: dict[str, dict] = {}
        scores = "SELECT s.cell_id, s.axis, s.value FROM scores s JOIN cells c USING (cell_id)"
        for cell_id, axis, value in self.conn.execute(scores + (" WHERE c.sweep = ?" if sweep is not None else ""), args):
            axes.setdefault(cell_id, {})[axis] = value
        for row in rows:
            row["axes"] = axes.get(row["cell_id"], {})
        return rows

    def sweeps(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT sweep FROM cells ORDER BY sweep")]


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"


def _manifests(base: Path, root: Path) -> Iterable[Path]:
    candidates = [base / MANIFEST_FILE] if base != root else []
    if base == root and root.is_dir():
        candidates = [p / MANIFEST_FILE for p in root.iterdir() if p.is_dir()]
    return [p for p in candidates if p.is_file()]


def rebuild(root: Path) -> dict:
    """Delete the index and build it again from every cell file below ``root``."""
    path = Path(root) / INDEX_FILE
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass
    with Index(root) as index:
        return index.sync()


def ensure(root: Path) -> Index:
    """The open index of ``root``, rebuilt from the cell files if it is missing or unreadable."""
    if not (Path(root) / INDEX_FILE).exists() and Path(root).is_dir():
        rebuild(root)
    try:
        index = Index(root)
    except sqlite3.DatabaseError:
        rebuild(root)
        return Index(root)
    try:
        index.conn.execute("SELECT count(*) FROM cells").fetchone()
    except sqlite3.DatabaseError:
        index.close()
        rebuild(root)
        return Index(root)
    return index


__all__ = ["INDEX_FILE", "Index", "cell_row", "ensure", "rebuild", "CELL_COLUMNS"]
