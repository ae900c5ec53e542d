"""What can hook the test run, judged on the verify copy as the test command will run it.

A file the agent added or changed is a hook when the test run will read or run it
and it can change how tests are collected or run:

- a configuration file whose relevant sections or keys changed (:mod:`.configs`:
  ``[tool.pytest.ini_options]`` yes, ``[tool.ruff]`` no; a Makefile only when the
  test command runs make; a symlink where a tool reads configuration always);
- a module, package, compiled extension (``pluggy.abi3.so``) or symlink named like a
  module the Python test run imports, in a folder that is on ``sys.path`` then;
- an executable in a folder the test command puts on PATH, a file the test command
  runs or sources, ``.env`` when the command loads it;
- a header the C tests include, a link out of the work directory.

Files the test runner would collect as tests that the agent added are not hooks
(an agent may write tests of its own); they are left out of the verify copy
(:func:`extra_tests`).  What is judged is the snapshot the verify copy was built
from, so a nested repository, a folder name holding a newline or a symlinked folder
cannot hide a file from the judge.
"""

from __future__ import annotations

import importlib.machinery
import os
import posixpath
import re
import sys
from typing import Optional

from ..globs import match_any
from ..models import Task
from . import configs
from .snapshot import Snapshot
from .testrun import C, CARGO, GO, NODE, PYTHON, TestRun, read_test_command

#: Modules a Python test run imports after the work directory is on ``sys.path``.
RUNNER_MODULES = {"pytest", "_pytest", "pluggy", "py", "iniconfig", "packaging", "hypothesis", "nose", "nose2",
                  "coverage", "pytest_cov", "xdist", "unittest", "tomli", "exceptiongroup", "colorama", "pygments",
                  "_pytest_plugins", "attr", "attrs", "typing_extensions"}
SHADOWABLE = (set(getattr(sys, "stdlib_module_names", ())) | RUNNER_MODULES) - {"test", "tests", "__main__"}
_SOURCE_SUFFIXES = (".py", ".pyc", ".pyw")
_EXTENSION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\.[^/]*)?\.(so|pyd|dylib)$")
_IMPORT = re.compile(rb"^\s*(?:from\s+([A-Za-z_]\w*)|import\s+([A-Za-z_]\w*))", re.M)
_INCLUDE = re.compile(rb'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
#: Files each runner collects as tests by default.
TEST_FILES = {
    PYTHON: ("**/test_*.py", "**/*_test.py"),
    NODE: ("**/*.test.js", "**/*.test.mjs", "**/*.test.cjs", "**/*-test.js", "**/*-test.mjs", "**/*-test.cjs",
           "**/*_test.js", "**/*_test.mjs", "**/*_test.cjs", "**/test-*.js", "**/test-*.mjs", "**/test-*.cjs",
           "**/test.js", "**/test.mjs", "**/test.cjs", "**/test/**/*.js", "**/test/**/*.mjs", "**/test/**/*.cjs"),
    CARGO: ("tests/*.rs", "**/tests/*.rs", "benches/*.rs", "examples/*.rs"),
    GO: ("**/*_test.go",),
}


def changed_paths(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths new in ``after`` or whose content or mode changed."""
    out = []
    for path, record in after.files.items():
        old = before.files.get(path)
        if old is None or (old.digest, old.mode) != (record.digest, record.mode):
            out.append(path)
    return sorted(out)


def _text(snap: Optional[Snapshot], path: str) -> Optional[str]:
    record = snap.files.get(path) if snap is not None else None
    if record is None or record.mode == "120000":
        return None
    return record.data.decode("utf-8", errors="replace")


def find_hooks(task: Task, before: Snapshot, after: Snapshot) -> dict[str, str]:
    """``path -> why it can hook the test run`` for every changed path of ``after`` (protected files excepted)."""
    run = read_test_command(task.test_command)
    roots = import_roots(task, after) if run.uses(PYTHON) else []
    tested = tested_modules(task, before) if roots else set()
    headers = included_headers(task, before) if run.uses(C) else set()
    found = {}
    for path in changed_paths(before, after):
        if match_any(path, task.protected) or path in run.produced:
            continue
        reason = judge(path, task, before, after, run, roots, headers, tested)
        if reason:
            found[path] = reason
    return found


def judge(path: str, task: Task, before: Snapshot, after: Snapshot, run: TestRun, roots: list,
          headers: set, tested: set = frozenset()) -> Optional[str]:
    """Why ``path`` (changed) can hook the run, or None."""
    record = after.files[path]
    folder, _, name = path.rpartition("/")
    is_link = record.mode == "120000"
    if is_link and _points_outside(path, record.data):
        return "a link out of the work directory"
    judge_config = configs.judge_for(name)
    if judge_config is not None:
        if is_link:
            # The tool would follow it to content the harness never reads.
            return judge_config(None, "", run) and "a link where a test tool reads its configuration"
        if record.note:
            return judge_config(None, "", run) and f"too large to judge ({record.note})"
        reason = judge_config(_text(before, path), _text(after, path) or "", run)
        if reason:
            return reason
    if run.uses(CARGO) and folder.rpartition("/")[2] == ".cargo" and name in ("config", "config.toml"):
        return "cargo's own configuration (rustflags, linker, rustc wrapper, runner, env)"
    if run.loads_env and name.startswith(".env"):
        return "the test command loads it"
    if path in run.runs or any(path.startswith(r + "/") for r in run.runs if r):
        return "the test command runs it"
    if any(folder == d for d in run.path_dirs) and (is_link or record.mode == "100755"):
        return "an executable on the test command's PATH"
    if roots and not match_any(path, task.expected_changes):
        module = shadowed_module(path, after, roots, tested)
        if module:
            return f"shadows the module {module!r} the test run imports"
    if headers and name in headers and not match_any(path, task.expected_changes):
        return "a header the tests include"
    return None


def _points_outside(path: str, target: bytes) -> bool:
    text = target.decode("utf-8", errors="replace")
    if text.startswith("/"):
        return True
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), text))
    return joined == ".." or joined.startswith("../")


def import_roots(task: Task, snap: Snapshot) -> list[str]:
    """Folders on ``sys.path`` while the Python tests run: the work directory, and each test file's base folder.

    pytest's default ("prepend") import mode puts the first folder above a test file
    that is not a package on ``sys.path``.
    """
    roots = {""}
    for path in snap.files:
        name = path.rpartition("/")[2]
        if not (match_any(path, task.protected) and name.endswith(".py")):
            continue
        folder = path.rpartition("/")[0]
        while folder and f"{folder}/__init__.py" in snap.files:
            folder = folder.rpartition("/")[0]
        roots.add(folder)
    return sorted(roots)


def module_name(entry: str, is_link: bool = False) -> Optional[str]:
    """The module a file or link named ``entry`` provides when its folder is on ``sys.path``."""
    for suffix in _SOURCE_SUFFIXES:
        if entry.endswith(suffix) and "." not in entry[: -len(suffix)]:
            return entry[: -len(suffix)]
    m = _EXTENSION.match(entry)
    if m:
        return m.group(1)
    if entry.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        return entry.split(".", 1)[0]
    if is_link and "." not in entry:
        return entry  # a link to a folder: a package
    return None


def tested_modules(task: Task, before: Snapshot) -> set:
    """Top-level modules the task's protected Python files import (``from slugify import ...``)."""
    names = set()
    for path, record in before.files.items():
        if path.endswith(".py") and match_any(path, task.protected):
            names |= {(a or b).decode() for a, b in _IMPORT.findall(record.data)}
    return names


def shadowed_module(path: str, snap: Snapshot, roots: list, tested: set = frozenset()) -> Optional[str]:
    """The shadowable module ``path`` provides at one of ``roots``, or None.

    In a test folder pytest puts first on ``sys.path``, the modules the tests import
    (the code under test itself) are shadowable too: a ``tests/slugify.py`` would be
    tested in place of ``slugify.py``.
    """
    for root in roots:
        if root and not path.startswith(root + "/"):
            continue
        rel = path[len(root) + 1:] if root else path
        first, sep, rest = rel.partition("/")
        if sep:  # a package folder: only a regular package (with __init__) shadows
            base = (root + "/" if root else "") + first
            if "/" in rest or module_name(rest) != "__init__":
                if base not in snap.packages():
                    continue
            module = first
        else:
            module = module_name(first, snap.files[path].mode == "120000")
        if module in SHADOWABLE or (root and module in tested):
            return module
    return None


def included_headers(task: Task, before: Snapshot) -> set:
    """Header names the task's protected C files include."""
    names = set()
    for path, record in before.files.items():
        if match_any(path, task.protected):
            names |= {os.path.basename(m.decode(errors="replace")) for m in _INCLUDE.findall(record.data)}
    return names


def extra_tests(task: Task, before: Snapshot, after: Snapshot) -> list[str]:
    """New files the test runner would collect as tests (not the task's, not asked for): left out of verify."""
    run = read_test_command(task.test_command)
    patterns = [p for runner, globs in TEST_FILES.items() if run.uses(runner) for p in globs]
    return [p for p in after.files
            if p not in before.files and match_any(p, patterns)
            and not match_any(p, task.protected) and not match_any(p, task.expected_changes)]


def build_outputs(task: Task, before: Snapshot, after: Snapshot) -> list[str]:
    """New compiled files (ELF binaries, objects, archives) and what the test command writes itself (``cc -o t_run``).

    The test run must build them from the sources: one the agent left (a ``t_run`` or
    a ``.o`` that ``make`` would find up to date) is left out of the verify copy.
    """
    run = read_test_command(task.test_command)
    out = []
    for path, record in after.files.items():
        if path in before.files or record.mode == "120000" or match_any(path, task.expected_changes):
            continue
        if path in run.produced or record.data.startswith(b"\x7fELF") or path.endswith((".o", ".obj", ".a")):
            out.append(path)
    return sorted(out)


__all__ = ["find_hooks", "extra_tests", "build_outputs", "changed_paths", "module_name"]
