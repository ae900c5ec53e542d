"""A task's committed ``.git`` kept between processes, by what it was built from (issue 16).

A process builds each task's template once (:mod:`.template`): the starting files copied,
then four git processes (init, add, commit, repack).  Every ``cab run`` and every sweep's
first cell of a task paid those again (25 ms on an idle machine, 80-100 ms on a busy
one), for the same ``.git`` each time: the commit's author, committer and dates are
fixed (:data:`.snapshot.GIT_ENV`), so the same files give the same commit.

So the ``.git`` built is kept in ``<cab cache>/templates/<key>`` (``$CAB_CACHE_DIR``,
else ``~/.cache/cab``: a folder no sandbox is shown).  The key is a SHA-256 of every
entry of the copied starting files (path, type, mode, bytes or link target), the commit
message, the ignore list and the git binary (path, size, mtime): a change to any of
them is another key.  An entry is written whole under a temporary name and renamed
into place, so a reader sees all of it or none.  Only small work trees are kept
(:data:`MAX_BYTES`), at most :data:`KEEP` entries (the least recently used go first).
``CAB_TEMPLATE_CACHE=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Optional

from ..verdict.runtime import cache_root

#: Work trees larger than this are built each time (their .git would fill the cache).
MAX_BYTES = 32 << 20
#: Entries kept; the least recently used beyond this are removed when one is added.
KEEP = 256
#: Bumped whenever how a template is built changes (template._build's git commands).
VERSION = b"cab-template-v1\0"
#: What an entry must hold to be used.
REQUIRED = ("HEAD", "index", "refs/heads/main", "objects/pack")


def enabled() -> bool:
    return os.environ.get("CAB_TEMPLATE_CACHE", "1") != "0"


def folder() -> Path:
    return cache_root() / "templates"


def key_of(work: Path, *, message: str, ignored: tuple) -> Optional[str]:
    """The key of the ``.git`` built in ``work`` (its starting files, not yet committed), or None when
    it is not kept (too large, a ``.git`` of its own, unreadable, no git)."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        st = os.stat(git)
    except OSError:
        return None
    from .snapshot import GIT_ENV, GIT_SAFE

    digest = hashlib.sha256(VERSION)
    digest.update(f"{git}\0{st.st_size}\0{st.st_mtime_ns}\0{message}\0{ignored!r}\0{GIT_ENV!r}\0{GIT_SAFE!r}\0".encode())
    total = 0
    for dirpath, dirnames, filenames in os.walk(work):
        dirnames.sort()
        if Path(dirpath) == work and ".git" in dirnames + filenames:
            return None  # the task brought its own repository: built as it is
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, work).encode("utf-8", "surrogateescape")
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    data = os.readlink(path).encode("utf-8", "surrogateescape")
                elif stat.S_ISREG(info.st_mode):
                    total += info.st_size
                    if total > MAX_BYTES:
                        return None
                    with open(path, "rb") as fh:
                        data = fh.read()
                else:
                    return None
            except OSError:
                return None
            digest.update(b"%s\0%o\0%d\0" % (rel, info.st_mode, len(data)) + data)
        for name in dirnames:  # empty folders are not committed, but their modes are copied
            if not os.path.islink(os.path.join(dirpath, name)):
                digest.update(b"D%s\0" % os.path.relpath(os.path.join(dirpath, name), work).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def restore(key: str, work: Path) -> bool:
    """Put the kept ``.git`` of ``key`` into ``work``; False when there is none (or it is incomplete)."""
    entry = folder() / key
    if not all((entry / name).exists() for name in REQUIRED):
        return False
    try:
        shutil.copytree(entry, work / ".git", symlinks=True)
        os.utime(entry)  # used: kept longer
    except OSError:
        shutil.rmtree(work / ".git", ignore_errors=True)
        return False
    return True


def keep(key: str, work: Path) -> None:
    """Keep ``work/.git`` under ``key`` (whole or not at all); never fails the caller."""
    root = folder()
    try:
        root.mkdir(parents=True, exist_ok=True)
        if (root / key).exists():
            return
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
        try:
            shutil.copytree(work / ".git", staging / "git", symlinks=True)
            os.rename(staging / "git", root / key)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _trim(root)
    except OSError:
        pass


def _trim(root: Path) -> None:
    now = time.time()
    for left in root.glob(".new-*"):  # a writer that died half-way, long ago
        try:
            if now - left.stat().st_mtime > 3600:
                shutil.rmtree(left, ignore_errors=True)
        except OSError:
            pass
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    if len(entries) <= KEEP:
        return
    aged = sorted(entries, key=lambda p: p.stat().st_mtime if p.exists() else time.time())
    for old in aged[: len(entries) - KEEP]:
        shutil.rmtree(old, ignore_errors=True)
