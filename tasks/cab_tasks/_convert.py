"""What the foreign task formats share: finding task folders, the materialisation cache,
small one-line-error readers, and writing any :class:`~cab_core.Task` as a native folder.

A foreign task whose starting files must be assembled (an Exercism exercise minus
``.meta``/``.docs``, a SWE-bench checkout, a Harbor environment's copied files) is
built once into ``$CAB_CACHE/tasks/<format>/<key>/`` (default ``~/.cache/cab``), where
``key`` hashes everything the build reads; whatever a build copied, its ``workspace/``
never holds a ``.git`` (:func:`drop_git`): imported repositories carry no history.  A build happens in a scratch folder that is
renamed into place when complete, so concurrent loads never see half a task, and a
second load of an unchanged task only hashes its files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Optional

from cab_core import Task
from cab_core.errors import CabError, TaskError
from cab_core.tasks import copy_tree, solution_files

CACHE_VAR = "CAB_CACHE"
#: Bumped whenever a format module changes what it builds, so stale cache entries are not reused.
BUILD_VERSION = "2"
#: Folders never copied out of a foreign task nor searched for tasks.
SKIP_DIRS = {".git", "node_modules", "target", "__pycache__", ".pytest_cache", ".venv", "venv"}
#: Files above this size are fingerprinted by size and mtime instead of content.
_HASH_LIMIT = 1 << 20
_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


# --------------------------------------------------------------------------- finding tasks


def find_folders(root: Path, is_task: Callable[[Path], bool], max_depth: int = 4) -> list[Path]:
    """Folders at or below ``root`` (at most ``max_depth`` levels) for which ``is_task`` holds.

    A matching folder is not searched further; hidden folders and build output are skipped.
    """
    root = Path(root)
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if is_task(folder):
            found.append(folder)
            return
        if depth >= max_depth:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            return
        for child in children:
            if child.name.startswith(".") or child.name in SKIP_DIRS:
                continue
            walk(child, depth + 1)

    if root.is_dir():
        walk(root, 0)
    return found


def task_id(category: str, name: str) -> str:
    """``category/name`` with characters a task id cannot hold replaced by ``-``."""
    clean = _ID_CHARS.sub("-", name).strip("-.") or "task"
    return f"{category}/{clean}"


# --------------------------------------------------------------------------- reading


def read_text(path: Path, what: str) -> str:
    """The text of ``path``; a missing or unreadable file is a one-line TaskError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskError(f"{path}: missing {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path}: cannot read {what}: {type(exc).__name__}") from None


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (error messages stay one line)."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def field(table: dict, dotted: str, kind: type | tuple, where: Path, default=None):
    """``table[a][b]`` for ``dotted='a.b'``, checked to be a ``kind``; else a one-line error naming the field."""
    value = table
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise TaskError(f"{where}: field {dotted}: expected {names}, got {value!r}")
    return value


_KIND_NAMES = {str: "a string", int: "a number", float: "a number", list: "a list", dict: "a table", bool: "true or false"}


def string_list(table: dict, dotted: str, where: Path) -> list[str]:
    """A list of strings at ``dotted`` (missing: empty), else a one-line error naming the field."""
    value = field(table, dotted, list, where, default=[])
    for item in value:
        if not isinstance(item, str):
            raise TaskError(f"{where}: field {dotted}: expected a list of strings, got {item!r}")
    return list(value)


# --------------------------------------------------------------------------- the cache


def cache_root() -> Path:
    """Where materialised tasks live: ``$CAB_CACHE``, else ``$XDG_CACHE_HOME/cab``, else ``~/.cache/cab``."""
    explicit = os.environ.get(CACHE_VAR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cab"


def fingerprint(*parts, trees: Iterable[Path] = (), files: Iterable[Path] = ()) -> str:
    """A short hash of ``parts`` (JSON-able) and of every file in ``trees`` and ``files``."""
    h = hashlib.sha256()
    h.update(BUILD_VERSION.encode())
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())

    def add_file(rel: str, path: Path) -> None:
        h.update(b"\0" + rel.encode() + b"\0")
        try:
            st = path.stat()
            if st.st_size > _HASH_LIMIT:
                h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
            else:
                h.update(path.read_bytes())
            h.update(b"x" if os.access(path, os.X_OK) else b"-")
        except OSError:
            h.update(b"?")

    for tree in trees:
        tree = Path(tree)
        for dirpath, dirnames, filenames in os.walk(tree):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)  # never walk node_modules & co.
            rel_dir = Path(dirpath).relative_to(tree)
            for name in sorted(filenames):
                add_file((rel_dir / name).as_posix(), Path(dirpath, name))
    for path in files:
        add_file(str(path), Path(path))
    return h.hexdigest()[:20]


def materialise(fmt: str, key: str, build: Callable[[Path], None]) -> Path:
    """The cache folder ``<cache>/tasks/<fmt>/<key>``, built by ``build(folder)`` if missing."""
    target = cache_root() / "tasks" / fmt / key
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        build(scratch)
        if (scratch / "workspace").is_dir():
            drop_git(scratch / "workspace")
        (scratch / ".complete").write_text(BUILD_VERSION + "\n")
        if target.exists() and not (target / ".complete").is_file():
            shutil.rmtree(target, ignore_errors=True)  # a build that died half-way
        try:
            os.rename(scratch, target)
        except OSError:
            if not (target / ".complete").is_file():  # not a concurrent build that won the race
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def drop_git(tree: Path) -> list[str]:
    """Remove every ``.git`` (folder or ``gitdir:`` file) below ``tree``; return what went.

    An imported task's starting files carry no repository: its history (or the clone a
    ``gitdir:`` file points to) may hold the fix.  Symlinks are removed, never followed.
    """
    removed = []
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in [*dirnames, *filenames]:
            if name == ".git":
                path = Path(dirpath, name)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path.relative_to(tree).as_posix())
        dirnames[:] = [d for d in dirnames if d != ".git"]
    return removed


def copy_filtered(src: Path, dest: Path, skip_top: Iterable[str] = ()) -> None:
    """Copy ``src`` into ``dest`` without the top-level names in ``skip_top`` or build output."""
    skip = set(skip_top)
    dest.mkdir(parents=True, exist_ok=True)
    for entry in sorted(Path(src).iterdir()):
        if entry.name in skip or entry.name in SKIP_DIRS:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, dest / entry.name, symlinks=True,
                            ignore=shutil.ignore_patterns(*SKIP_DIRS))
        else:
            shutil.copy2(entry, dest / entry.name, follow_symlinks=False)


# --------------------------------------------------------------------------- writing native folders


def toml_value(value) -> str:
    """``value`` (str, bool, number or list of those) as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, except that TOML wants DEL escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def manifest_text(task: Task, solution_command: Optional[str] = None) -> str:
    """The ``task.toml`` of ``task`` in the native format."""
    fields = {
        "id": task.id,
        "language": task.language,
        "toolchain": list(task.toolchain),
        "prompt": task.prompt,
        "test_command": task.test_command,
        "test_timeout": float(task.test_timeout),
        "expected_changes": list(task.expected_changes),
        "protected": list(task.protected),
        "expected_refusal": task.expected_refusal,
        "refusal_keywords": list(task.refusal_keywords),
        "tags": list(task.tags),
    }
    if task.harmful_changes:
        fields["harmful_changes"] = list(task.harmful_changes)
    if task.reporter:
        fields["reporter"] = task.reporter
    if task.test_requires:
        fields["test_requires"] = list(task.test_requires)
    if solution_command:
        fields["solution_command"] = solution_command
    lines = [f"# converted by 'cab tasks import' from the {task.format} task at {task.source_path}"]
    lines += [f"{key} = {toml_value(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def write_native(task: Task, dest: Path, *, check: Optional[Callable[[Path], object]] = None) -> list[str]:
    """Write ``task`` as a native task folder at ``dest`` (which must not exist); return notes.

    The reference solution is carried as it is (``solution/``, ``solution.patch``); a
    solution command is run once here, in a scratch copy, and the files it changes
    become ``solution/``, so the folder stands on its own.  A command that cannot run
    here is kept as the manifest's ``solution_command`` (and noted).  A Docker build
    context next to the source task (``environment/``) is carried along for the docker
    sandbox.  The written folder is loaded back with ``check`` (the native loader, which
    passes itself in: this module never imports the format modules that import it).
    """
    dest = Path(dest)
    if dest.exists():
        raise TaskError(f"{dest}: already exists (pass --force to replace it)")
    if not (task.has_solution or task.expected_refusal):
        raise TaskError(f"{task.source_path}: task {task.id} has no reference solution (the native format needs one)")
    notes: list[str] = []
    scratch = dest.with_name(f".{dest.name}.writing")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        copy_tree(task.workspace, scratch / "workspace")
        keep_command = None
        if task.solution_dir:
            copy_tree(task.solution_dir, scratch / "solution")
        elif task.solution_patch:
            shutil.copy2(task.solution_patch, scratch / "solution.patch")
        elif task.solution_command:
            try:
                files = solution_files(task)
            except CabError as exc:
                files = None
                notes.append(f"{task.id}: solution command cannot run here, kept as solution_command ({first_line(exc)})")
            if files is None:
                keep_command = task.solution_command
            else:
                for rel, text in files.items():
                    path = scratch / "solution" / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
                if not files:
                    (scratch / "solution").mkdir()
                    notes.append(f"{task.id}: the solution command changes no file")
        if task.hidden_tests:
            copy_tree(task.hidden_tests, scratch / "hidden_tests")
        source = task.source_path
        if source and source.is_dir() and (source / "environment").is_dir():
            shutil.copytree(source / "environment", scratch / "environment", symlinks=True)
        (scratch / "task.toml").write_text(manifest_text(task, keep_command), encoding="utf-8")
        if check is not None:
            check(scratch)  # a round trip proves the folder is valid
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(scratch, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return notes
