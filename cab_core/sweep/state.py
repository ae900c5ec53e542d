"""A sweep's state on disk: which cells are done, the attempts log, the manifest, the lock, leftovers.

A cell is complete when its ``cell.json`` parses (the runner publishes a folder with
one rename).  ``attempts.jsonl`` counts infrastructure-error attempts (one line per
attempt, written with ``O_APPEND``); ``sweep.json`` is the manifest; one coordinator
holds ``.sweep.lock`` at a time (released by the OS if it is killed).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import CabError
from ..models import STATUS_INFRA_ERROR
from ..index import MANIFEST_FILE
from ..results import CELL_FILE, atomic_write_text, recover
from ..runoptions import RunOptions
from .spec import FILE_FIELDS, cell_id_of

ATTEMPTS_FILE = "attempts.jsonl"
LOCK_FILE = ".sweep.lock"
MANIFEST_VERSION = 1

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
