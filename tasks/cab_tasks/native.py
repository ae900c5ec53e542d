"""The native task format: one folder per task with a ``task.toml`` manifest.

::

    <category>/<name>/
      task.toml        id, prompt, language, test_command, globs, ...
      workspace/       starting files the agent sees (visible tests included)
      solution/        reference solution: files overlaid on the workspace
      solution.patch   ... or a git patch (instead of solution/)
      hidden_tests/    optional: overlaid only when verifying

Every error in a manifest is one line naming the file and the field.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Any, Optional

import attrs

from cab_core import Task, TaskSource, hookimpl
from cab_core.models import to_mounts
from cab_core.errors import TaskError
from cab_core.globs import glob_problem
from cab_core.serialization import load_toml_record, strict_converter
from cab_core.verdict.channels import CHANNELS

from . import SUITE
from ._convert import write_native

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MANIFEST = "task.toml"
#: The structured result channels a task may name (``cab_core.verdict.channels``).
REPORTERS = tuple(CHANNELS)


@attrs.frozen(kw_only=True)
class Manifest:
    """The fields of ``task.toml`` (unknown keys are an error)."""

    id: str
    prompt: str
    language: str
    test_command: str
    test_timeout: float = 300.0
    expected_changes: list[str] = attrs.field(factory=list)
    protected: list[str] = attrs.field(factory=list)
    expected_refusal: bool = False
    refusal_keywords: list[str] = attrs.field(factory=list)
    toolchain: list[str] = attrs.field(factory=list)
    tags: list[str] = attrs.field(factory=list)
    solution: Optional[str] = None
    solution_command: Optional[str] = None
    harmful_changes: list[str] = attrs.field(factory=list)
    reporter: Optional[str] = None
    test_requires: list[str] = attrs.field(factory=list)
    #: Extra read-only host paths the task needs in the sandbox: paths or {path, writable, why} tables.
    mounts: Any = attrs.field(factory=list)


_strict = strict_converter()


def _raise(value, expected):
    raise ValueError(f"expected {expected}, got {value!r}")


def _field_problems(m: Manifest) -> list[str]:
    """What is wrong with the manifest's own fields (globs, id, reporter, timeout, the texts), one line each."""
    problems = []
    for field in ("expected_changes", "protected", "harmful_changes"):
        for pattern in getattr(m, field):
            why = glob_problem(pattern)
            if why:
                problems.append(f"field {field}: {why}")
    if not re.match(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", m.id):
        problems.append(f"field id: {m.id!r} must look like 'category/name'")
    if m.reporter is not None and m.reporter not in REPORTERS:
        problems.append(f"field reporter: {m.reporter!r} is not one of {', '.join(REPORTERS)}")
    if m.test_timeout <= 0:
        problems.append("field test_timeout: must be positive")
    if not m.prompt.strip():
        problems.append("field prompt: must not be empty")
    if not m.test_command.strip():
        problems.append("field test_command: must not be empty")
    return problems


def _solution(folder: Path, m: Manifest, problems: list[str]) -> tuple[Optional[Path], Optional[Path]]:
    """``(solution folder, solution patch)``: the manifest's ``solution``, else solution/ or solution.patch."""
    solution_dir = solution_patch = None
    if m.solution:
        sol = folder / m.solution
        if not sol.exists():
            problems.append(f"field solution: {m.solution!r} does not exist")
        elif sol.is_dir():
            solution_dir = sol
        else:
            solution_patch = sol
    elif (folder / "solution").is_dir():
        solution_dir = folder / "solution"
    elif (folder / "solution.patch").is_file():
        solution_patch = folder / "solution.patch"
    return solution_dir, solution_patch


def load_task(folder: Path) -> Task:
    """Load the task in ``folder`` (raises TaskError with one line naming file and field)."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    m = load_toml_record(manifest_path, Manifest, _strict, error=TaskError, missing="missing task manifest")
    problems = _field_problems(m)
    workspace = folder / "workspace"
    if not workspace.is_dir():
        problems.append("folder workspace/ is missing")
    solution_dir, solution_patch = _solution(folder, m, problems)
    if not m.expected_refusal and not (solution_dir or solution_patch or m.solution_command):
        problems.append("field solution: no reference solution (solution/, solution.patch or solution_command)")
    try:
        mounts = to_mounts(m.mounts, "declared by the task")
    except ValueError as exc:
        problems.append(f"field mounts: {exc}")
    if problems:
        raise TaskError(f"{manifest_path}: {problems[0]}")
    hidden = folder / "hidden_tests"
    try:
        return Task(
            id=m.id, prompt=m.prompt, language=m.language, test_command=m.test_command,
            test_timeout=m.test_timeout, expected_changes=m.expected_changes, protected=m.protected,
            expected_refusal=m.expected_refusal, refusal_keywords=m.refusal_keywords,
            toolchain=m.toolchain, tags=m.tags, workspace=workspace, solution_dir=solution_dir,
            solution_patch=solution_patch, solution_command=m.solution_command,
            hidden_tests=hidden if hidden.is_dir() else None, source_path=folder, format="native",
            harmful_changes=m.harmful_changes, reporter=m.reporter, test_requires=m.test_requires,
            mounts=mounts,
        )
    except (ValueError, TypeError) as exc:  # an attrs validator on Task
        attribute = exc.args[1] if len(exc.args) > 1 else None
        field = getattr(attribute, "name", "?")
        raise TaskError(f"{manifest_path}: field {field}: invalid value {getattr(m, field, None)!r}") from None


def find_task_folders(root: Path) -> list[Path]:
    """Folders below ``root`` (or ``root`` itself) that hold a ``task.toml``."""
    root = Path(root)
    if (root / MANIFEST).is_file():
        return [root]
    return sorted(p.parent for p in root.rglob(MANIFEST) if "workspace" not in p.relative_to(root).parts[:-1])


def load(paths=()) -> list[Task]:
    """The built-in suite when ``paths`` is empty, else the tasks under each path."""
    roots = [Path(p) for p in paths] or [SUITE]
    return [load_task(folder) for root in roots for folder in find_task_folders(root)]


def _is_native(folder: Path) -> bool:
    # task.toml alone is not enough: Harbor tasks have one too (without an id or workspace/).
    if not (folder / "workspace").is_dir():
        return False
    try:
        return "id" in tomllib.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True  # a broken manifest next to workspace/ is ours to report


def detect(path: Path) -> bool:
    """A native task folder (task.toml with an id, and workspace/), or a folder holding some."""
    path = Path(path)
    manifests = [path / MANIFEST, *path.glob(f"*/{MANIFEST}"), *path.glob(f"*/*/{MANIFEST}")]
    return any(m.is_file() and _is_native(m.parent) for m in manifests)


@hookimpl
def cab_task_sources():
    return [TaskSource(name="native", load=load, detect=detect, builtin=True,
                       write=functools.partial(write_native, check=load_task),
                       description="cab's own format: task.toml + workspace/ + solution/ (the built-in suite)")]
