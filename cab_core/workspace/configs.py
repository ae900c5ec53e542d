"""Configuration files judged by what they hold: does this change alter how the tests are collected or run?

Each judge takes the file's text before (None for a new file) and after, and the
:class:`~.testrun.TestRun`, and returns the reason it can hook the run, or None.
Only the sections and keys that matter are compared: a ``pyproject.toml`` holding
``[tool.ruff]`` is harmless, one adding ``[tool.pytest.ini_options]`` is not.  A
file a judge cannot parse counts as a hook when its tool would read it (the tool
might read it differently).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Callable, Optional

from .testrun import CARGO, NODE, NPM, PYTHON, TestRun

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Cargo.toml tables and ``[package]`` keys that decide which tests run and how they are built.
CARGO_GUARDED = ("lib", "bin", "test", "bench", "example", "build-dependencies", "profile", "patch", "replace",
                 "workspace", "target", "features")
CARGO_GUARDED_PACKAGE = ("build", "links", "autotests", "autobins", "autoexamples", "autobenches", "autolib",
                         "workspace")
#: package.json keys node itself reads when it loads a module, and keys of test runners it may start.
NODE_KEYS = ("type", "imports", "exports", "main", "module")
RUNNER_KEYS = ("jest", "mocha", "ava", "vitest", "c8", "nyc", "tap", "babel", "node-options", "nodeOptions")
NPM_KEYS = ("workspaces", "config", "overrides", "packageManager", "bin")
#: .npmrc settings that change what an npm script runs.
NPMRC_KEYS = ("node-options", "script-shell", "shell", "ignore-scripts", "scripts-prepend-node-path", "userconfig",
              "globalconfig", "prefix", "npm-path", "onload-script", "init-module", "node-version", "workspaces",
              "include-workspace-root", "foreground-scripts")
_SECTION = re.compile(r"^\s*\[([^\]\n]*)\]", re.M)


def _toml(text: Optional[str]) -> Optional[dict]:
    if text is None:
        return {}
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return None


def pyproject(before: Optional[str], after: str, run: TestRun) -> Optional[str]:
    if not run.uses(PYTHON):
        return None
    old, new = _toml(before), _toml(after)
    if new is None:
        return "not valid TOML where pytest reads its configuration"
    if run.installs and old != new:
        return "changed, and the test command installs the project"
    old_tool = ((old or {}).get("tool") or {}) if isinstance((old or {}).get("tool"), dict) else {}
    new_tool = new.get("tool") if isinstance(new.get("tool"), dict) else {}
    if old is None or old_tool.get("pytest") != new_tool.get("pytest"):
        return "[tool.pytest*] configures the test run"
    return None


def _ini_sections(text: Optional[str]) -> dict:
    """Section name -> body text, read loosely (any header line), so no parser can see a section this misses."""
    if text is None:
        return {}
    out, name, start = {}, None, 0
    for m in _SECTION.finditer(text):
        if name is not None:
            out[name] = out.get(name, "") + text[start:m.start()]
        name, start = m.group(1).strip(), m.end()
    if name is not None:
        out[name] = out.get(name, "") + text[start:]
    return out


def _pytest_sections(text: Optional[str]) -> dict:
    return {k: v for k, v in _ini_sections(text).items() if "pytest" in k.lower()}


def setup_cfg(before: Optional[str], after: str, run: TestRun) -> Optional[str]:
    if not run.uses(PYTHON):
        return None
    if run.installs and before != after:
        return "changed, and the test command installs the project"
    if _pytest_sections(before) != _pytest_sections(after):
        return "[tool:pytest] configures the test run"
    return None


def tox_ini(before: Optional[str], after: str, run: TestRun) -> Optional[str]:
    if run.uses("tox") and before != after:
        return "changed, and the test command runs tox"
    if run.uses(PYTHON) and _pytest_sections(before) != _pytest_sections(after):
        return "[pytest] configures the test run"
    return None


def pytest_ini(before: Optional[str], after: str, run: TestRun) -> Optional[str]:
    # pytest.ini (and pytest.toml) wins over every other configuration file, even empty.
    return "pytest's own configuration file" if run.uses(PYTHON) else None


def _json(text: Optional[str]):
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def package_json(before: Optional[str], after: str, run: TestRun) -> Optional[str]:
    if not (run.uses(NODE) or run.uses(NPM)):
        return None
    old, new = _json(before), _json(after)
    if new is None:
        return "not a JSON object where node reads package settings"
    old = old or {}
    keys = list(NODE_KEYS) + [k for k in RUNNER_KEYS if run.uses(k) or k in ("babel", "node-options", "nodeOptions")]
    if run.uses(NPM):
        keys += list(NPM_KEYS)
    for key in keys:
        if old.get(key) != new.get(key):
            return f'"{key}" changes how the tests load or run'
    if run.uses(NPM):
        old_scripts = old.get("scripts") if isinstance(old.get("scripts"), dict) else {}
        new_scripts = new.get("scripts") if isinstance(new.get("scripts"), dict) else {}
        if not isinstance(new.get("scripts", {}), dict):
            return '"scripts" is not an object'
        for name in sorted(run.npm_scripts | {"test", "pretest", "posttest"}):
            if old_scripts.get(name) != new_scripts.get(name):
                return f'"scripts.{name}" is run by the test command'
    return None


def npmrc(before: Optional[str], after: str, run: TestRun) -> Optional[str]:
    if not run.uses(NPM):
        return None

    def settings(text: Optional[str]) -> dict:
        out = {}
        for line in (text or "").splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith(("#", ";")):
                out[key.strip().lower()] = value.strip()
        return out

    old, new = settings(before), settings(after)
    for key in sorted(set(old) | set(new)):
        if (key in NPMRC_KEYS or key.endswith(("node-options", "script-shell"))) and old.get(key) != new.get(key):
            return f"{key} changes what an npm script runs"
    return None


def cargo_toml(before: Optional[str], after: str, run: TestRun) -> Optional[str]:
    if not run.uses(CARGO):
        return None
    old, new = _toml(before), _toml(after)
    if old is None or new is None:
        return "not valid TOML where cargo reads the package"
    for table in CARGO_GUARDED:
        if old.get(table) != new.get(table):
            return f"[{table}] decides which tests run and how they are built"
    pkg_old, pkg_new = old.get("package") or {}, new.get("package") or {}
    if not isinstance(pkg_old, dict) or not isinstance(pkg_new, dict):
        return "[package] is not a table"
    for key in CARGO_GUARDED_PACKAGE:
        if pkg_old.get(key) != pkg_new.get(key):
            return f"package.{key} decides which tests run and how they are built"
    for table in ("dependencies", "dev-dependencies"):
        deps = new.get(table) if isinstance(new.get(table), dict) else {}
        for name, spec in deps.items():
            old_spec = (old.get(table) or {}).get(name) if isinstance(old.get(table), dict) else None
            if not isinstance(spec, dict) or spec == old_spec:
                continue
            path = str(spec.get("path", ""))
            if "git" in spec or "registry" in spec or path.startswith(("/", "~")) or ".." in path.split("/"):
                return f"{table}.{name} brings in code from outside the work directory"
    return None


def _make_parse(text: Optional[str]) -> tuple[list, dict]:
    """``(global lines, rules)`` of a Makefile: rules by target, each its header and recipe."""
    glob_lines, rules, current = [], {}, None
    lines = (text or "").replace("\\\n", " ").splitlines()
    for line in lines:
        if line.startswith("\t") and current is not None:
            for target in current:
                rules[target].append(line)
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = re.match(r"^([^:=#]+?)\s*::?\s*(?!=)(.*)$", line)
        if m and not re.match(r"^\s*(export|override|define|include|-include|sinclude|ifeq|ifneq|ifdef|ifndef)\b", line):
            current = m.group(1).split()
            for target in current:
                rules.setdefault(target, []).append(line)
            continue
        current = None
        glob_lines.append(stripped)
    return glob_lines, rules


def makefile(before: Optional[str], after: str, run: TestRun) -> Optional[str]:
    if run.make_targets is None:
        return None
    old_globals, old_rules = _make_parse(before)
    new_globals, new_rules = _make_parse(after)
    if old_globals != new_globals:
        return "variables, includes or directives the test command's make reads changed"
    special = [t for t in new_rules if t.startswith(".") or "%" in t]
    if any(old_rules.get(t) != new_rules.get(t) for t in special + [t for t in old_rules if t.startswith(".") or "%" in t]):
        return "a pattern or special rule the test command's make reads changed"
    wanted = list(run.make_targets) or [next((t for t in new_rules if not t.startswith(".")), "")]
    seen: set = set()
    while wanted:
        target = wanted.pop()
        if target in seen:
            continue
        seen.add(target)
        if old_rules.get(target) != new_rules.get(target):
            return f"target {target!r}, run by the test command, changed"
        for line in new_rules.get(target, [])[:1]:
            prereqs = line.split(":", 1)[1] if ":" in line else ""
            wanted += [p for p in prereqs.replace(";", " ").split() if p != "|"]
    return None


def always(reason: str, runner: Optional[str] = None) -> Callable:
    """A judge for files whose mere presence can hook the run (when ``runner`` is in play)."""

    def judge(before: Optional[str], after: str, run: TestRun) -> Optional[str]:
        return reason if runner is None or run.uses(runner) else None

    return judge


#: File name -> judge, for configuration files read anywhere in the tree.
BY_NAME: dict[str, Callable] = {
    "pyproject.toml": pyproject,
    "setup.cfg": setup_cfg,
    "tox.ini": tox_ini,
    "pytest.ini": pytest_ini, ".pytest.ini": pytest_ini, "pytest.toml": pytest_ini, ".pytest.toml": pytest_ini,
    "package.json": package_json,
    ".npmrc": npmrc,
    "Cargo.toml": cargo_toml,
    "Makefile": makefile, "makefile": makefile, "GNUmakefile": makefile,
    "conftest.py": always("pytest loads it as a plugin", PYTHON),
    "sitecustomize.py": always("python imports it at start-up", PYTHON),
    "usercustomize.py": always("python imports it at start-up", PYTHON),
    "build.rs": always("cargo builds and runs it before the tests", CARGO),
    "rust-toolchain": always("chooses the toolchain cargo runs", CARGO),
    "rust-toolchain.toml": always("chooses the toolchain cargo runs", CARGO),
    "node.config.json": always("node's own configuration file", NODE),
    ".yarnrc": always("configures yarn", NPM), ".yarnrc.yml": always("configures yarn", NPM),
    ".pnpmfile.cjs": always("pnpm runs it", NPM),
    "go.work": always("chooses the modules go test builds", "go"),
    ".rspec": always("configures rspec"),
}
#: Name prefix -> (judge, runner): test-runner configuration files (``jest.config.js``, ``.mocharc.yml`` ...).
BY_PREFIX: tuple = (
    ("jest.config.", "jest"), (".mocharc", "mocha"), ("vitest.config.", "vitest"), ("vite.config.", "vitest"),
    ("ava.config.", "ava"), (".taprc", "tap"), ("babel.config.", "jest"), (".babelrc", "jest"), (".swcrc", "jest"),
    (".c8rc", NODE), (".nycrc", NODE),
)


def judge_for(name: str) -> Optional[Callable]:
    """The judge of a file named ``name``, or None for a file no test tool reads as configuration."""
    if name in BY_NAME:
        return BY_NAME[name]
    if name.endswith(".mk"):
        return makefile
    if name.endswith(".pth"):
        return always("python runs its import lines at start-up", PYTHON)
    for prefix, runner in BY_PREFIX:
        if name.startswith(prefix):
            return always(f"configures {runner}", runner)
    return None

