"""The starting work tree of a task, with its committed ``.git``, built once per process (issue 16).

Every cell of a task starts from the same files and the same baseline commit for the
agent.  Building that takes three git processes (init, add, commit); a sweep of many
cells of one task paid them on every cell.  Here they run once per task per process,
in a private folder of the harness (never shown to a sandbox), and each cell gets a
plain copy of the result.  The template is rebuilt when any file or folder of the
task's starting files changes its size, mtime, ctime or inode, appears or goes; a cell
only ever writes its own copy, never the template nor the task.

The baseline commit differs from one built per cell only in its timestamp.  The ``.git``
built is kept between processes too (:mod:`.templatecache`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Optional

from ..sandbox import quiet
from ..tasks import copy_tree
from . import scratch, templatecache, trash
from .safefs import read_text
from .snapshot import IGNORED, git

_LOCK = threading.Lock()
_BUILT: dict[str, tuple[tuple, Path]] = {}
_ROOT: list[Path] = []


def signature(folder: Path) -> tuple:
    """(path, type, size, mtime_ns, ctime_ns, inode) of everything below ``folder``, by stat alone."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in (".", *sorted(filenames), *dirnames):
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                out.append((path,))
                continue
            out.append((path, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return tuple(out)


def _root() -> Path:
    if not _ROOT:
        root = scratch.make("cab-templates-")
        atexit.register(_remove_at_exit, root)
        _ROOT.append(root)
    return _ROOT[0]


_RELEASING: list[threading.Thread] = []


def release() -> Optional[threading.Thread]:
    """Remove this process's templates now, on a thread, beside what the caller does next (a sweep
    whose cells have all ended: its close).  They were otherwise removed on the way out, 20-30 ms
    of file-system work at the very end of the process (issue 16: wind-down).  A cell asking for a
    template afterwards builds it again, in a new folder.  Returns the thread (``None``: nothing built)."""
    with _LOCK:
        roots, jobs = list(_ROOT), list(_AHEAD_JOBS.values())
        _ROOT.clear()
        _BUILT.clear()
        _AHEAD.clear()
        _AHEAD_JOBS.clear()
        _STORES.clear()
    if not roots:
        return None

    def remove() -> None:
        for job in jobs:  # a copy made ahead for a cell that never came: done before its folder goes
            job.join()
        with _LOCK:  # and not offered to a later cell
            for key, made in list(_AHEAD.items()):
                if any(root in made[1].parents for root in roots):
                    del _AHEAD[key]
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)

    thread = threading.Thread(target=remove, name="cab-templates-release", daemon=True)
    thread.start()
    _RELEASING.append(thread)
    return thread


def _remove_at_exit(root: Path) -> None:
    for thread in list(_RELEASING):  # a removal begun by release(): finished, not cut short by the exit
        thread.join()
    shutil.rmtree(root, ignore_errors=True)


def _build(task, dest: Path) -> None:
    copy_tree(task.workspace, dest)
    message = f"cab baseline: {task.id}"
    key = templatecache.key_of(dest, message=message, ignored=IGNORED) if templatecache.enabled() else None
    if key is not None and templatecache.restore(key, dest):
        return  # the same files were committed before, by another process: that .git (see .templatecache)
    git(["init", "-q", "--template=", "-b", "main"], cwd=dest)  # no sample hooks to copy
    (dest / ".git" / "info").mkdir(parents=True, exist_ok=True)
    (dest / ".git" / "info" / "exclude").write_text("\n".join(IGNORED) + "\n")
    git(["add", "-A"], cwd=dest)
    git(["commit", "-q", "--allow-empty", "-m", message], cwd=dest)
    # One pack instead of a folder per object: every cell copies, and later removes, this .git.
    git(["repack", "-a", "-d", "-q"], cwd=dest)
    if key is not None:
        templatecache.keep(key, dest)


def template(task) -> Path:
    """The folder holding ``task``'s starting files and their committed ``.git`` (built if stale)."""
    key = str(Path(task.workspace).resolve())
    with _LOCK:
        sig = signature(Path(task.workspace))
        hit = _BUILT.get(key)
        if hit is not None and hit[0] == sig and hit[1].is_dir():
            return hit[1]
        dest = Path(tempfile.mkdtemp(prefix="t-", dir=_root()))
        try:
            _build(task, dest)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        if hit is not None:
            shutil.rmtree(hit[1], ignore_errors=True)
        _BUILT[key] = (sig, dest)
        return dest


#: Per task, one copy of its template made ahead for the next cell: (signature, folder, snapshot).
_AHEAD: dict[str, tuple[tuple, Path, object]] = {}
_AHEAD_JOBS: dict[str, threading.Thread] = {}


def place(task, work: Path) -> tuple[str, object]:
    """Fill the empty folder ``work`` with the task's starting files and committed ``.git``.

    Returns the baseline commit id and the harness's :class:`~.snapshot.Snapshot` of the
    starting files.  The copy was usually made while the previous cell of the task ran
    (from the same template, by the harness alone, :func:`copy_ahead`), and is moved into place.  A copy made from a template that has since changed, or
    on another file system, is never used.
    """
    from . import snapshot

    key = str(Path(task.workspace).resolve())
    src = template(task)
    with _LOCK:
        sig = _BUILT[key][0]
        job = _AHEAD_JOBS.get(key)
    if job is not None:
        job.join()  # the copy for this cell is nearly done: cheaper than a second copy
    with _LOCK:
        ready = _AHEAD.pop(key, None)
    snap = None
    if ready is not None and ready[0] == sig:
        try:
            # Each entry moved into ``work`` (not the folder renamed over it: a container made
            # ahead has ``work`` itself mounted, see cab_core.sandbox.dockerpool).
            for name in os.listdir(ready[1]):
                os.rename(ready[1] / name, work / name)
            snap = ready[2]
        except OSError:  # another file system: copied afresh below
            _empty(work)
    if ready is not None:  # emptied (or never to be used): removed in the background, as a cell's folders are
        trash.later(ready[1].parent, _rmtree_quietly)
    if snap is None:
        shutil.copytree(src, work, dirs_exist_ok=True, symlinks=True)
        snap = snapshot.take(work)
    return (read_text(work / ".git" / "refs" / "heads" / "main") or "").strip(), snapshot.copy_of(snap)


def _rmtree_quietly(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _empty(folder: Path) -> None:
    """Remove what a partial move left in ``folder`` (the harness's own files), keeping the folder."""
    for name in os.listdir(folder):
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def copy_ahead(task) -> None:
    """Start copying ``task``'s starting files for its next cell (on a thread; at most one per task).

    Called once the cell's agent is done (the runner's verify step waits on the tests
    meanwhile), so the copy never competes with the agent's start.
    """
    key = str(Path(task.workspace).resolve())
    with _LOCK:
        built = _BUILT.get(key)
    if built is not None and built[1].is_dir():
        _copy_ahead(key, built[0], built[1])


def _copy_ahead(key: str, sig: tuple, src: Path) -> None:
    from . import snapshot

    def copy() -> None:
        folder = Path(tempfile.mkdtemp(prefix="ahead-", dir=_root())) / "work"
        try:
            shutil.copytree(src, folder, symlinks=True)
            made = (sig, folder, snapshot.take(folder))
        except Exception:  # the next cell copies for itself
            shutil.rmtree(folder.parent, ignore_errors=True)
            return
        with _LOCK:
            old = _AHEAD.pop(key, None)
            _AHEAD[key] = made
        if old is not None:
            shutil.rmtree(old[1].parent, ignore_errors=True)

    with _LOCK:  # started before another cell can find it (and join it)
        job = _AHEAD_JOBS[key] = quiet.Job(copy, name="cab-template-ahead")  # counted while it copies
        job.start()


_STORES: dict[tuple, tuple[Path, str]] = {}


def base_store(snap, git_dir: Path) -> str:
    """``git_dir``: the harness's bare store holding ``snap`` as ``refs/heads/baseline``; return the commit id.

    The commit is deterministic (fixed author and date), so a store made once for the
    same files (path, mode, content digest and size) is copied rather than rebuilt.
    """
    from . import snapshot

    key = tuple(sorted((r.rel, r.mode, r.digest, r.size, r.note) for r in snap.files.values()))
    with _LOCK:
        hit = _STORES.get(key)
        if hit is None or not hit[0].is_dir():
            store = Path(tempfile.mkdtemp(prefix="s-", dir=_root())) / "base.git"
            snapshot.init_store(store)
            hit = _STORES[key] = (store, snapshot.commit(store, snap, "baseline"))
    shutil.copytree(hit[0], git_dir, symlinks=True)
    return hit[1]
