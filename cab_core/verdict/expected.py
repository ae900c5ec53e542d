"""Expected test identities: the tests a task's reference solution passes.

Recorded by validation (:func:`cab_core.validate.validate_task`) and kept in cab's
cache keyed by the task's content hash (starting files, solution, hidden tests, test
command, reporter), so an edited task is validated again and an imported task gets
its record on first use.  A cell passes only when every expected test is reported
passed by name.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional

from .runtime import cache_root

#: Bump when the reporters change what an identity looks like.
IDENTITY_VERSION = "1"


#: fingerprint per task, kept with the stat signature of every file it read (issue 16):
#: a sweep asks once per cell, and re-reading the whole task each time is pure overhead.
_CACHE: dict[tuple, tuple[tuple, str]] = {}


def fingerprint(task) -> str:
    """sha256 over everything that decides which tests exist and pass.

    Cached per process; the cache entry holds until a file or folder it covered
    changes its size, mtime, inode or ctime, appears or goes (checked by stat alone).
    """
    key = _key(task)
    signature = _signature(task)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == signature:
        return hit[1]
    value = _fingerprint(task)
    _CACHE[key] = (signature, value)
    return value


def _key(task) -> tuple:
    return (task.id, task.test_command, getattr(task, "reporter", "") or "", task.solution_command or "",
            *(str(p) if p is not None else "" for p in (task.workspace, task.solution_dir, task.hidden_tests,
                                                        task.solution_patch)))


def _signature(task) -> tuple:
    """(path, size, mtime_ns, ctime_ns, inode) of every file and folder the fingerprint reads."""
    out = []
    for folder in (task.workspace, task.solution_dir, task.hidden_tests, task.solution_patch):
        if folder is None:
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if d not in _SKIPPED]
            out += [_stat(dirpath), *(_stat(os.path.join(dirpath, n)) for n in filenames)]
        if not os.path.isdir(folder):
            out.append(_stat(str(folder)))
    return tuple(out)


def _stat(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return (path,)
    return (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


_SKIPPED = ("target", "node_modules", "__pycache__", ".git")


def _fingerprint(task) -> str:
    digest = hashlib.sha256()
    for part in (IDENTITY_VERSION, task.id, task.test_command, getattr(task, "reporter", "") or "",
                 task.solution_command or ""):
        digest.update(part.encode() + b"\0")
    for label, folder in (("ws", task.workspace), ("sol", task.solution_dir), ("hidden", task.hidden_tests)):
        if folder is not None:
            _hash_tree(digest, label, Path(folder))
    if task.solution_patch is not None:
        _hash_file(digest, "patch", Path(task.solution_patch))
    return digest.hexdigest()


def _hash_tree(digest, label: str, root: Path) -> None:
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            _hash_file(digest, f"{label}:{path.relative_to(root).as_posix()}", path)


def _hash_file(digest, label: str, path: Path) -> None:
    digest.update(label.encode() + b"\0")
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        digest.update(b"<unreadable>")


def _path(task) -> Path:
    return cache_root() / "verdicts" / f"{fingerprint(task)}.json"


def load_expected(task) -> Optional[tuple[str, ...]]:
    """The recorded expected identities of ``task``, or None when not recorded for this content."""
    try:
        record = json.loads(_path(task).read_text())
    except (OSError, ValueError):
        return None
    tests = record.get("expected_tests") if isinstance(record, dict) else None
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        return None
    return tuple(tests)


def record_expected(task, tests, channel: str) -> Path:
    """Write the expected identities of ``task`` (atomically) and return the file."""
    path = _path(task)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"task": task.id, "channel": channel, "fingerprint": fingerprint(task),
                               "expected_tests": sorted(tests)}, indent=1) + "\n")
    os.replace(tmp, path)
    return path
