"""A cell's folders on disk: the agent's work directory, its private HOME, the verify copy.

The starting files are committed in ``work/.git`` (agents expect a repository), and
separately, as :mod:`.snapshot` pictures, in a bare repository of the harness's own
outside the work directory, which is what every diff is computed from: nothing the
agent does to ``work/.git`` (rewriting history, a hostile ``core.fsmonitor``, a FIFO
for ``HEAD``) reaches the harness.

After the run, one walk of the work tree (:func:`.snapshot.take`) records the
changes and builds the verify copy from the same bytes; what can hook the test run
is then judged on that copy, as the test run will see it (:mod:`.hooks`), and the
changed code is read for attempts to forge the verdict (:mod:`.forgery`).  Nothing
here follows a symlink the agent left, opens a FIFO or device, or reads without a
size cap (:mod:`.safefs`).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Optional

import attrs

from ..globs import match_any
from ..models import FileChanges, Task
from ..sandbox import quiet
from ..tasks import list_files
from . import forgery, hooks, scratch, snapshot, template, trash
from .scratch import rmtree as _rmtree
from .safefs import KIND_DIR, WalkReport, read_text, walk


class CellWorkspace:
    """The scratch folders of one cell; ``close()`` removes them."""

    def __init__(self, task: Task, scratch_root: Optional[Path] = None, root: Optional[Path] = None):
        self.task = task
        # ``root``: a fresh, harness-made folder to use instead (a container sandbox made the
        # cell's containers ahead with these folders mounted: see cab_core.sandbox.dockerpool).
        self.root = Path(root) if root is not None else scratch.make("cab-cell-", dir=scratch_root)
        scratch.sweep_later(self.root.parent)  # (once a process) what killed harnesses left there
        self.work = self.root / "work"
        self.home = self.root / "home"
        self.verify_dir = self.root / "verify"
        self.verify_home = self.root / "verify-home"
        self.base_git = self.root / "base.git"
        for path in (self.work, self.home, self.verify_home):
            path.mkdir(exist_ok=root is not None)
        self.agent_baseline: Optional[str] = None
        self.protected_before: dict[str, str] = {}
        self.baseline_files: set[str] = set()
        self.before: Optional[snapshot.Snapshot] = None
        self._store: Optional[_Background] = None  # the harness's baseline store, being copied
        self._patch: Optional[_Background] = None  # the agent's patch, being made
        self._copy_ahead = False  # the next cell's starting files to copy (see start_background)
        self._lock = threading.Lock()
        self._closed = False
        self.after: Optional[snapshot.Snapshot] = None
        self.skipped: list[str] = []
        self.hook_reasons: dict[str, str] = {}
        self.agent_tests: list[str] = []
        self.build_outputs: list[str] = []

    # ------------------------------------------------------------------ setup
    def prepare(self) -> None:
        """Copy the starting files, commit them for the agent, and take the harness's own baseline."""
        # Built once per task per process, the next cell's copy made while this one runs.
        self.agent_baseline, self.before = template.place(self.task, self.work)
        self.baseline_files = set(self.before.files)
        self.protected_before = snapshot.digests(self.before, [p for p in self.before.files
                                                                if match_any(p, self.task.protected)])

    @property
    def baseline(self) -> Optional[str]:
        """The baseline commit in the harness's own store (waiting for the store's copy)."""
        if self._store is None and self.before is not None:
            self._store = _Background(template.base_store, self.before, self.base_git)
        return self._store.result() if self._store is not None else None

    def write_files(self, files: dict[str, str]) -> list[str]:
        """Write a launch spec's files (``~/x`` into HOME, others into the work dir)."""
        written = []
        for name, content in files.items():
            if name.startswith("~/"):
                base, rel = self.home, name[2:]
            else:
                base, rel = self.work, name
            target = (base / rel).resolve()
            if base.resolve() not in target.parents:
                raise ValueError(f"launch file {name!r} escapes its folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            written.append(name)
        return written

    def home_state(self) -> dict[str, tuple]:
        """Every file in the private HOME: path -> (size, mtime_ns, inode), read by name (nothing opened)."""
        out = {}
        for entry in walk(self.home, report=WalkReport()):
            if entry.kind != KIND_DIR:
                out[entry.path] = (entry.st.st_size, entry.st.st_mtime_ns, entry.st.st_ino)
        return out

    def home_written(self, before: dict[str, tuple]) -> list[str]:
        """``~/path`` of every file in HOME created or changed since ``before`` (:meth:`home_state`)."""
        return [f"~/{path}" for path, state in sorted(self.home_state().items()) if before.get(path) != state]

    # ------------------------------------------------------------------ after the run
    def changes(self, *, defer_patch: bool = False) -> FileChanges:
        """What the agent changed against the baseline; also builds the verify copy from the same read.

        With ``defer_patch`` the patch (two git processes) is made in the background and the
        record returned has none yet: :meth:`with_patch` waits for it (the runner verifies meanwhile).
        That background work (the patch, the harness's store, the next cell's starting files)
        begins at :meth:`start_background`, which the runner calls once the tests have started:
        started here, its threads took the interpreter from the verify step's own start.
        """
        _empty(self.verify_dir)  # emptied, not replaced: a container sandbox may have it mounted already
        # The harness's store is only read by the diff (made while the tests run); the next
        # cell's starting files are copied meanwhile too.  Neither competes with the agent's start.
        self.after = snapshot.take(self.work, copy_to=self.verify_dir)
        self._store = self._store or _Background(template.base_store, self.before, self.base_git, start=False)
        self.skipped = self.after.skipped()
        added, removed, modified = snapshot.compare(self.before, self.after)
        self._patch = _Background(self._make_patch, bool(added or removed or modified), start=False)
        self._copy_ahead = True
        changes = FileChanges(added=added, removed=removed, modified=modified, extra_git_dir=self._extra_git_dir())
        return changes if defer_patch else self.with_patch(changes)

    def start_background(self) -> None:
        """Begin what :meth:`changes` left for later (idempotent; :meth:`with_patch` and
        :meth:`close` begin or skip it themselves; nothing once closed)."""
        with self._lock:
            if self._closed:
                return
            for job in (self._store, self._patch):
                if job is not None:
                    job.start()
            copy, self._copy_ahead = self._copy_ahead, False
        if copy:
            template.copy_ahead(self.task)

    def _make_patch(self, changed: bool) -> str:
        baseline = self.baseline
        if not changed:
            return ""
        head = snapshot.commit(self.base_git, self.after, "agent")
        return snapshot.patch(self.base_git, baseline, head)

    def with_patch(self, changes: FileChanges) -> FileChanges:
        """``changes`` with the patch :meth:`changes` started (waiting for it)."""
        return attrs.evolve(changes, patch=self._patch.result())

    def _extra_git_dir(self) -> bool:
        """True when the agent committed, or left a git repository besides the baseline's (read, never run)."""
        if self.after is not None and self.after.nested_git:
            return True
        git_dir = self.work / ".git"
        ref = (read_text(git_dir / "HEAD", 4096) or "").strip()
        if ref.startswith("ref: "):
            name = ref[5:].strip()
            if not _safe_ref(name):  # an absolute path, ``..``: never read from the host
                return True
            value = (read_text(git_dir / name, 4096) or "").strip()
            if not value:
                packed = read_text(git_dir / "packed-refs") or ""
                value = next((line.split(" ", 1)[0] for line in packed.splitlines()
                              if line.endswith(" " + name)), "")
            ref = value
        return ref != self.agent_baseline

    def hook_files(self, changes: FileChanges) -> list[str]:
        """Files in the verify copy, changed by the agent, that can hook the test run (see :mod:`.hooks`).

        ``changes`` is what :meth:`changes` returned; the judgement reads the snapshot it was made from.
        """
        if self.after is None:
            self.changes()
        self.hook_reasons = hooks.find_hooks(self.task, self.before, self.after)
        return sorted(self.hook_reasons)

    def forgery_findings(self, changes: FileChanges) -> list[str]:
        """``forgery attempt: <what> in <file>:<line>`` for changed code that reaches into the test machinery."""
        if self.after is None:
            self.changes()
        return forgery.scan(self.task, self.before, self.after)

    def protected_after(self) -> dict[str, str]:
        """Digests of the protected files as the agent left them, new ones included (links hashed, never followed)."""
        if self.after is None:
            self.changes()
        return snapshot.digests(self.after, [p for p in self.after.files
                                             if p in self.protected_before or match_any(p, self.task.protected)])

    def prepare_verify(self, hook_files: list[str]) -> None:
        """The verify copy made ready: protected files restored, hooks dropped or restored, hidden tests added.

        A file the harness puts back first replaces any symlink or file on its way, so
        nothing is written outside the verify folder.
        """
        if self.after is None:
            self.changes()
        task = self.task
        for rel in self.after.files:
            if match_any(rel, task.protected) and rel not in self.protected_before:
                _remove(self.verify_dir / rel)  # a test the agent added cannot count
        self.agent_tests = hooks.extra_tests(task, self.before, self.after)
        self.build_outputs = hooks.build_outputs(task, self.before, self.after)
        for rel in self.agent_tests + self.build_outputs:  # the agent's own tests, its builds: not the verdict's
            if rel not in hook_files:
                _remove(self.verify_dir / rel)
        for rel in hook_files:
            if rel not in self.baseline_files:
                _remove(self.verify_dir / rel)
            elif (task.workspace / rel).is_file():
                _place(task.workspace / rel, self.verify_dir, rel)
        for rel in self.protected_before:
            _place(task.workspace / rel, self.verify_dir, rel)
        if task.hidden_tests:
            for rel in list_files(task.hidden_tests):
                _place(task.hidden_tests / rel, self.verify_dir, rel)

    def close(self) -> None:
        """Remove the scratch folders: renamed away now, deleted in the background (:mod:`.trash`)."""
        with self._lock:  # a late start_background begins nothing in them
            self._closed = True
        for job in (self._patch, self._store):  # nothing may still be writing in them (never begun: skipped)
            if job is not None:
                job.wait(start=False)
        trash.discard(self.root, _rmtree)


class _Background:
    """``fn(*args)`` on a thread of its own; :meth:`result` waits and returns (or raises) what it did.

    With ``start=False`` the thread begins at :meth:`start` (or when the result is asked for).
    """

    def __init__(self, fn, *args, start: bool = True):
        self._value = self._error = None
        self._thread = quiet.Job(self._run, fn, args, name="cab-workspace")  # counted while it works
        self._lock = threading.Lock()
        if start:
            self.start()

    def start(self) -> None:
        with self._lock:
            if self._thread.ident is None:
                self._thread.start()

    def _run(self, fn, args) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc

    def wait(self, *, start: bool = True) -> None:
        if start:
            self.start()
        elif self._thread.ident is None:
            return
        self._thread.join()

    def result(self):
        self.start()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _safe_ref(name: str) -> bool:
    """Whether ``name`` is a ref git itself would follow: below ``refs/``, no ``..``, ``.`` or empty part."""
    parts = name.split("/")
    return parts[0] == "refs" and len(parts) > 1 and all(p not in ("", ".", "..") for p in parts) and "\\" not in name


def _empty(folder: Path) -> None:
    """Remove everything in ``folder`` (if it exists), keeping the folder itself."""
    if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
        folder.unlink()
    if not folder.is_dir():
        return
    for entry in os.scandir(folder):
        _remove(Path(entry.path))


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file() or (os.path.lexists(path) and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        _rmtree(path)


def _place(src: Path, root: Path, rel: str) -> None:
    """Copy ``src`` to ``root/rel``, replacing whatever is there and any symlink or file on the way."""
    target = root
    for part in Path(rel).parts[:-1]:
        target = target / part
        if target.is_symlink() or (os.path.lexists(target) and not target.is_dir()):
            target.unlink()
        target.mkdir(exist_ok=True)
    target = target / Path(rel).name
    if os.path.lexists(target):
        _remove(target)
    shutil.copy2(src, target, follow_symlinks=False)
