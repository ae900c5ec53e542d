"""Finding tasks across task sources, and the file operations every task needs.

Where tasks come from: every task source's ``load`` with no paths gives its built-in
suite; the folders named by ``--tasks-dir`` and ``CAB_TASKS_PATH`` (``:``-separated)
are read by the source for ``--task-format`` (``auto`` picks by the folder's shape).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Sequence

from .errors import CabError, TaskError, UnknownNameError, one_line
from .globs import match_any
from .models import Task

TASKS_PATH_VAR = "CAB_TASKS_PATH"


class TaskCatalog:
    """The tasks visible to one command, by id."""

    def __init__(self, registry, tasks_dirs: Sequence[Path] = (), task_format: str = "auto", builtin: bool = True):
        self.registry = registry
        dirs = [Path(d) for d in tasks_dirs]
        dirs += [Path(p) for p in os.environ.get(TASKS_PATH_VAR, "").split(os.pathsep) if p]
        self.tasks_dirs = dirs
        self.task_format = task_format
        self.builtin = builtin
        self._tasks: Optional[dict[str, Task]] = None

    def _source_for(self, path: Path):
        return source_for(self.registry, path, self.task_format)

    @property
    def tasks(self) -> dict[str, Task]:
        if self._tasks is None:
            found: dict[str, Task] = {}

            def add(batch: Iterable[Task]) -> None:
                for task in batch:
                    if task.id in found:
                        other = found[task.id].source_path
                        raise TaskError(f"task id {task.id!r} is defined twice: {other} and {task.source_path}")
                    found[task.id] = task

            if self.builtin:
                for source in self.registry.task_sources:
                    if source.builtin:
                        try:
                            add(_load(source, ()))
                        except TaskError as exc:
                            if not getattr(exc, "from_plugin", False):
                                raise
                            # A broken plugin costs its own tasks only.
                            print(f"cab: warning: {exc}", file=sys.stderr)
            for path in self.tasks_dirs:
                if not path.exists():
                    raise TaskError(f"{path}: tasks folder does not exist")
                add(_load(self._source_for(path), (path,)))
            self._tasks = found
        return self._tasks

    def get(self, task_id: str) -> Task:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise UnknownNameError("task", task_id, self.tasks) from None

    def select(self, pattern: Optional[str] = None) -> list[Task]:
        """Tasks whose id matches ``pattern`` (an fnmatch pattern, a prefix, or a comma list)."""
        tasks = sorted(self.tasks.values(), key=lambda t: t.id)
        if not pattern:
            return tasks
        patterns = [p.strip() for p in pattern.split(",") if p.strip()]
        chosen = [t for t in tasks if any(fnmatch.fnmatchcase(t.id, p) or t.id == p or t.id.startswith(p.rstrip("/") + "/") for p in patterns)]
        if not chosen:
            raise CabError(f"no task matches {pattern!r} ({len(tasks)} tasks known; try 'cab tasks list')")
        return chosen


def source_for(registry, path: Path, task_format: str = "auto"):
    """The task source that reads ``path``: the one named, or (``auto``) the one format that detects it."""
    sources = registry.task_sources
    if task_format != "auto":
        return sources.get(task_format)
    found = [source for source in sources if source.detect and source.detect(path)]
    if len(found) == 1:
        return found[0]
    names = ", ".join(sources.names())
    if found:
        which = " and ".join(s.name for s in found)
        raise TaskError(f"{path}: looks like {which} tasks; pass --task-format to say which (known: {names})")
    raise TaskError(f"{path}: cannot tell the task format of this folder (pass --task-format; known: {names})")


def _load(source, paths) -> list[Task]:
    """``source.load(paths)``, with anything but a user error turned into one line naming the plugin."""
    try:
        return list(source.load(paths))
    except CabError:
        raise
    except Exception as exc:
        err = TaskError(f"task source {source.name!r} (plugin {source.plugin or '?'!r}) failed: {one_line(exc)}")
        err.from_plugin = True
        raise err from exc


# --------------------------------------------------------------------------- files


def copy_tree(src: Path, dest: Path) -> None:
    """Copy the contents of ``src`` into ``dest`` (created if missing), keeping modes."""
    shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "target", "node_modules"))


def list_files(root: Path) -> list[str]:
    """Every file below ``root`` as a relative POSIX path; ``.git`` and ``__pycache__`` excluded (the
    interpreter's cache, which a non-editable install or ``compileall`` leaves in a task's folders,
    is not the task's: :func:`copy_tree` leaves it out too)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", "__pycache__")]
        rel = Path(dirpath).relative_to(root)
        out += [(rel / f).as_posix() for f in filenames]
    return sorted(out)


def protected_paths(task: Task, root: Optional[Path] = None) -> list[str]:
    """Workspace files that match the task's protected globs."""
    return [p for p in list_files(root or task.workspace) if match_any(p, task.protected)]


def hash_files(root: Path, paths: Iterable[str]) -> dict[str, str]:
    """sha256 of each relative path that exists below ``root``."""
    out = {}
    for rel in paths:
        path = root / rel
        if path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def apply_solution(task: Task, dest: Path, *, runner=None) -> None:
    """Apply the task's reference solution to a copy of its workspace at ``dest``."""
    if task.solution_dir:
        if not task.solution_dir.is_dir():
            raise TaskError(f"{task.solution_dir}: solution folder of {task.id} is missing")
        copy_tree(task.solution_dir, dest)
    elif task.solution_patch:
        proc = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", str(task.solution_patch)],
            cwd=dest, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise TaskError(f"{task.solution_patch}: solution patch of {task.id} does not apply: {proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else 'git apply failed'}")
    elif task.solution_command:
        proc = subprocess.run(["sh", "-c", task.solution_command], cwd=dest, capture_output=True, text=True, timeout=task.test_timeout)
        if proc.returncode != 0:
            raise TaskError(f"{task.source_path}: solution command of {task.id} failed with exit code {proc.returncode}")
    else:
        raise TaskError(f"{task.source_path}: task {task.id} has no reference solution")


def solution_files(task: Task) -> dict[str, str]:
    """The files the reference solution changes, with their new content (text files only)."""
    if task.solution_dir and task.solution_dir.is_dir():
        out = {}
        for rel in list_files(task.solution_dir):
            try:
                out[rel] = (task.solution_dir / rel).read_text()
            except UnicodeDecodeError:
                continue
        return out
    if not task.has_solution:
        return {}
    with tempfile.TemporaryDirectory(prefix="cab-solution-") as tmp:
        root = Path(tmp)
        copy_tree(task.workspace, root)
        before = hash_files(root, list_files(root))
        apply_solution(task, root)
        out = {}
        for rel in list_files(root):
            if before.get(rel) != hash_files(root, [rel]).get(rel):
                try:
                    out[rel] = (root / rel).read_text()
                except UnicodeDecodeError:
                    continue
        return out
