"""An example task source: one exercise per file, ``NAME.exercise.yaml`` or ``NAME.exercise.json``.

What it shows: how a third party brings its own task format to cab with the
``cab_task_sources`` hook, a ``load(paths)`` that turns foreign files into
:class:`~cab_core.Task` records, a ``detect(path)`` narrow enough never to claim
another format's folder, and errors that name the file and the field.

The format (YAML or JSON, same keys)::

    prompt: Make add() in calc.py add.          # required
    language: python                            # required
    test_command: python -m pytest -q           # required
    files:                                      # the starting files, path -> text
      calc.py: "def add(a, b):\\n    return a - b\\n"
      test_calc.py: "..."
    solution:                                   # the reference solution (files overlaid), optional
      calc.py: "def add(a, b):\\n    return a + b\\n"
    expected_changes: [calc.py]                 # optional, as in task.toml
    protected: [test_calc.py]                   # optional
    tags: [easy]                                # optional

The task id is ``<folder>/<NAME>``, the folder being the one the file sits in.
A cab task needs its files as folders, so the starting files and the solution are
written once to cab's cache (keyed by the file's content, so an edit gives a new
folder).  The exercise file itself holds the solution: it is listed in the task's
``private_paths``, which every sandbox hides from the agent, like the solution folder.

Usage::

    pip install -e examples/cab-tasks-exercise-file
    cab tasks list --tasks-dir examples/cab-tasks-exercise-file/sample
    cab run --adapter command --model oracle --tasks-dir examples/cab-tasks-exercise-file/sample \\
        --task sample/add
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cab_core import Task, TaskSource, hookimpl
from cab_core.errors import TaskError

FORMAT = "exercise-file"
SUFFIXES = (".exercise.yaml", ".exercise.yml", ".exercise.json")
REQUIRED = ("prompt", "language", "test_command")
OPTIONAL_LISTS = ("expected_changes", "protected", "tags")
KNOWN = set(REQUIRED) | set(OPTIONAL_LISTS) | {"files", "solution", "test_timeout"}


def _exercise_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.endswith(SUFFIXES))


def detect(path: Path) -> bool:
    """A folder holding ``*.exercise.yaml|yml|json`` files (only those suffixes: never another format's folder)."""
    path = Path(path)
    return path.is_dir() and bool(_exercise_files(path))


def load(paths=()) -> list[Task]:
    """The exercises in each of ``paths`` (this source has no built-in suite)."""
    return [load_exercise(file) for folder in paths for file in _exercise_files(Path(folder))]


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "cab", "exercise-file")


def _read(file: Path) -> dict:
    import yaml  # here, not at the top: every cab command loads this plugin, few read a YAML file

    text = file.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise TaskError(f"{file}: not valid {file.suffix[1:].upper()}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise TaskError(f"{file}: expected a mapping of keys (prompt, language, test_command, files, ...)")
    unknown = sorted(set(data) - KNOWN)
    if unknown:
        raise TaskError(f"{file}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KNOWN))})")
    for key in REQUIRED:
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise TaskError(f"{file}: field {key}: required, a non-empty string")
    for key in ("files", "solution"):
        value = data.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise TaskError(f"{file}: field {key}: expected a mapping of relative path to file text")
        for rel in value:
            if rel.startswith("/") or ".." in Path(rel).parts or not rel.strip():
                raise TaskError(f"{file}: field {key}: {rel!r} must be a relative path inside the task")
    return data


def _materialise(root: Path, files: dict) -> Path:
    """Write ``files`` below ``root`` once (a finished folder is never rewritten)."""
    if root.is_dir():
        return root
    partial = root.with_name(root.name + f".partial-{os.getpid()}")
    for rel, text in files.items():
        target = partial / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    partial.mkdir(parents=True, exist_ok=True)
    try:
        partial.rename(root)
    except OSError:  # another process finished the same folder first
        if not root.is_dir():
            raise
    return root


def load_exercise(file: Path) -> Task:
    """The task in one exercise file (TaskError: one line naming the file and the field)."""
    file = Path(file).resolve()
    data = _read(file)
    name = file.name[: -len(next(s for s in SUFFIXES if file.name.endswith(s)))]
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    cache = _cache_root() / digest
    workspace = _materialise(cache / "workspace", data.get("files") or {})
    solution = _materialise(cache / "solution", data["solution"]) if data.get("solution") else None
    try:
        return Task(
            id=f"{file.parent.name}/{name}",
            prompt=data["prompt"],
            language=data["language"],
            test_command=data["test_command"],
            test_timeout=float(data.get("test_timeout", 300)),
            **{key: data.get(key) or () for key in OPTIONAL_LISTS},
            workspace=workspace,
            solution_dir=solution,
            source_path=file.parent,
            format=FORMAT,
            private_paths=[file],
        )
    except (TypeError, ValueError) as exc:
        raise TaskError(f"{file}: {str(exc).splitlines()[0]}") from None


@hookimpl
def cab_task_sources():
    return [TaskSource(name=FORMAT, load=load, detect=detect,
                       description="one exercise per *.exercise.yaml|json file: prompt, files, solution, test_command")]
