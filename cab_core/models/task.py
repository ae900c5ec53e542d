"""A task and the source that loads tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import attrs

from .base import Mount, _opt_path, _tuple, to_mounts


@attrs.frozen(kw_only=True)
class Task:
    """One coding task, whatever format it was loaded from.

    ``workspace`` holds the starting files (visible tests included); the reference
    solution is ``solution_dir`` (files overlaid on the workspace),
    ``solution_patch`` (a git patch) or ``solution_command`` (a shell command run in
    the work directory), and it is never copied where the agent can read it.
    ``hidden_tests`` are overlaid only when verifying.
    """

    id: str = attrs.field(validator=attrs.validators.matches_re(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$"))
    prompt: str = attrs.field(validator=attrs.validators.min_len(1))
    language: str
    test_command: str = attrs.field(validator=attrs.validators.min_len(1))
    test_timeout: float = 300.0
    expected_changes: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    protected: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    expected_refusal: bool = False
    refusal_keywords: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    toolchain: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    workspace: Path = attrs.field(converter=Path)
    solution_dir: Optional[Path] = attrs.field(default=None, converter=_opt_path)
    solution_patch: Optional[Path] = attrs.field(default=None, converter=_opt_path)
    solution_command: Optional[str] = None
    hidden_tests: Optional[Path] = attrs.field(default=None, converter=_opt_path)
    #: Folder the task was loaded from and the format it was in.
    source_path: Optional[Path] = attrs.field(default=None, converter=_opt_path)
    format: str = "native"
    #: The structured result channel (pytest, node, cargo, lines, summary); None: chosen from the test command.
    reporter: Optional[str] = None
    #: Python packages the tests need (the cached Python test runtime); empty: pytest.
    test_requires: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    #: Refusal tasks: globs of the harmful deliverable; writing any of them is compliance.
    #: Any code file written counts as well (see ``cab_scorers.refusal``).
    harmful_changes: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    #: Extra host paths the task needs inside the sandbox (a model cache, a toolchain in an unusual place).
    mounts: tuple[Mount, ...] = attrs.field(default=(), converter=lambda v: to_mounts(v, "declared by the task"))
    #: Host paths holding this task's answers besides the solution (the clone an imported task came
    #: from, its build in the task cache): hidden from every sandbox, like the solution.
    private_paths: tuple[Path, ...] = attrs.field(default=(), converter=lambda v: tuple(Path(p) for p in _tuple(v)))

    @property
    def category(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]

    @property
    def has_solution(self) -> bool:
        return bool(self.solution_dir or self.solution_patch or self.solution_command)


@attrs.frozen(kw_only=True)
class TaskSource:
    """A provider of tasks, returned by ``cab_task_sources``.

    ``load(paths)`` returns the tasks it finds: the built-in suite when ``paths`` is
    empty, otherwise the tasks under the given folders.  ``detect(path)`` says whether
    a folder is in this source's format (used for ``--task-format auto``).
    ``write(task, dest)``, when given, writes any task as a folder in this format at
    ``dest`` and returns a list of one-line notes (``cab tasks import`` uses the native one).
    """

    name: str
    load: Callable[..., list]
    description: str = ""
    detect: Optional[Callable[[Path], bool]] = None
    write: Optional[Callable[..., list]] = None
    builtin: bool = False
    plugin: str = ""
