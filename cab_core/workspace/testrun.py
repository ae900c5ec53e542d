"""What a task's test command will use: its runners, the folders it puts on PATH, the files it runs.

Read from the command line alone (``shlex`` with shell punctuation), so a hook can be
judged by whether the test run can reach it: ``bin/pytest`` matters only when the
command puts ``bin`` on PATH or runs it, a Makefile only when it runs ``make``,
``.env`` only when it loads it.  A command word it does not know makes every runner
count (never less careful than before).
"""

from __future__ import annotations

import functools
import os
import shlex
from typing import Optional

import attrs

PYTHON, NODE, NPM, CARGO, MAKE, GO, C = "python", "node", "npm", "cargo", "make", "go", "c"
ALL_RUNNERS = frozenset({PYTHON, NODE, NPM, CARGO, MAKE, GO, C, "jest", "mocha", "vitest", "ava", "tap", "tox", "pip"})
#: Command words that run nothing of the work tree's.
HARMLESS = {"cd", "echo", "printf", "test", "[", "true", "false", "cat", "grep", "export", "set", "cp", "mkdir", "rm",
            "ls", "exit", "unset", "mv", "touch", "sleep", "head", "tail", "tee", "wc", "sort", "diff", "cmp", "pwd",
            "rustup", "which", "command", "type", "ulimit", "umask"}
WRAPPERS = {"env", "exec", "time", "nice", "nohup", "timeout", "stdbuf", "xvfb-run", "command"}
COMPILERS = {"cc", "gcc", "clang", "c++", "g++", "clang++", "tcc"}
SHELLS = {"sh", "bash", "dash", "zsh", "ksh"}
JS_RUNNERS = {"jest", "mocha", "vitest", "ava", "tap"}
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;", "|&", "\n"}


@attrs.frozen(kw_only=True)
class TestRun:
    """The test command, read: see the module doc."""

    runners: frozenset = frozenset()
    path_dirs: tuple = ()          # work-relative folders the command puts on PATH ("" is the work dir)
    runs: frozenset = frozenset()  # work-relative files the command runs or sources
    produced: frozenset = frozenset()  # files the command writes before using them (``cc -o t_run``)
    loads_env: bool = False
    npm_scripts: frozenset = frozenset()
    make_targets: Optional[tuple] = None  # None: make not run; () the default target
    installs: bool = False

    def uses(self, runner: str) -> bool:
        return runner in self.runners


@functools.lru_cache(maxsize=256)
def read_test_command(command: str) -> TestRun:
    """Read a test command (see :class:`TestRun`); never raises.  A pure function of the string (the
    record is frozen): read once per process, not four times a cell."""
    state = {"runners": set(), "path_dirs": [], "runs": set(), "produced": set(), "npm": set(), "make": None,
             "installs": False, "loads_env": any(s in command for s in (".env", "dotenv", "env-file"))}
    _read(command, state, depth=0)
    if MAKE in state["runners"] or NPM in state["runners"]:
        state["runners"] |= ALL_RUNNERS  # a recipe or an npm script may run any of them
        if state["make"] is None:
            state["make"] = []
    return TestRun(runners=frozenset(state["runners"]), path_dirs=tuple(state["path_dirs"]),
                   runs=frozenset(state["runs"]), produced=frozenset(state["produced"]), loads_env=state["loads_env"],
                   npm_scripts=frozenset(state["npm"]),
                   make_targets=None if state["make"] is None else tuple(state["make"]), installs=state["installs"])


def _tokens(command: str) -> Optional[list[str]]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:
        return None


def _read(command: str, state: dict, depth: int) -> None:
    tokens = _tokens(command) if depth < 4 else None
    if tokens is None:
        state["runners"] |= ALL_RUNNERS
        return
    simple: list[str] = []
    for token in [*tokens, ";"]:
        if token in SEPARATORS:
            if simple:
                _simple(simple, state, depth)
            simple = []
        else:
            simple.append(token)


def _work_rel(path: str) -> Optional[str]:
    """A path the command names, relative to the work directory; None when it is outside it."""
    for prefix in ("$PWD/", "${PWD}/", "$(pwd)/", "`pwd`/"):
        if path.startswith(prefix):
            path = path[len(prefix):]
    if path in ("$PWD", "${PWD}", "$(pwd)", "`pwd`"):
        return ""
    if path.startswith(("/", "~", "$")):
        return None
    norm = os.path.normpath(path)
    if norm == ".":
        return ""
    return None if norm.startswith("..") else norm


def _simple(words: list[str], state: dict, depth: int) -> None:
    while words and "=" in words[0] and not words[0].startswith("="):
        name, _, value = words[0].partition("=")
        if name == "PATH":
            for part in value.split(":"):
                rel = _work_rel(part) if part not in ("$PATH", "${PATH}") else None
                if rel is not None:
                    state["path_dirs"].append(rel)
        elif name == "NODE_OPTIONS":
            state["runners"].add(NODE)
        words = words[1:]
    while words and os.path.basename(words[0]) in WRAPPERS:
        words = words[1:]
        while words and (words[0].startswith("-") or "=" in words[0] or words[0].replace(".", "").isdigit()):
            words = words[1:]
    if not words:
        return
    word, args = words[0], words[1:]
    base = os.path.basename(word)
    if word == "export":
        _simple([a for a in args if a.startswith("PATH=")] + ["true"], state, depth)
        return
    if "/" in word:
        rel = _work_rel(word)
        if rel is not None and rel not in state["produced"]:
            state["runs"].add(rel)
            state["runners"] |= ALL_RUNNERS  # a script of the work tree's: anything may run
        return
    if word in (".", "source"):
        for arg in args[:1]:
            rel = _work_rel(arg)
            if rel is not None:
                state["runs"].add(rel)
        return
    if base in SHELLS:
        if "-c" in args and args.index("-c") + 1 < len(args):
            _read(args[args.index("-c") + 1], state, depth + 1)
        else:
            _script_args(args, state)
            state["runners"] |= ALL_RUNNERS
        return
    _runner(base, args, state)


def _script_args(args: list[str], state: dict) -> None:
    """The first non-option argument of an interpreter: the script it runs."""
    for arg in args:
        if arg.startswith("-"):
            continue
        rel = _work_rel(arg)
        if rel is not None:
            state["runs"].add(rel)
        return


def _runner(base: str, args: list[str], state: dict) -> None:
    runners = state["runners"]
    if base.startswith("python") or base in ("pytest", "py.test"):
        runners.add(PYTHON)
        if "-m" in args:
            module = args[args.index("-m") + 1] if args.index("-m") + 1 < len(args) else ""
            if module in ("pip", "tox", "nox"):
                state["installs"] = True
        elif base.startswith("python"):
            _script_args(args, state)
    elif base in ("tox", "nox", "pip", "pip3", "uv", "hatch", "poetry", "pdm"):
        runners |= {PYTHON, "tox", "pip"}
        state["installs"] = True
    elif base == "node":
        runners.add(NODE)
        if "--test" not in args:
            _script_args(args, state)
    elif base in ("npm", "npx", "yarn", "pnpm", "bun"):
        runners |= {NODE, NPM}
        verbs = [a for a in args if not a.startswith("-")]
        if base == "npx" and verbs:
            runners.add(verbs[0]) if verbs[0] in JS_RUNNERS else runners.update(JS_RUNNERS)
        elif verbs[:1] in (["test"], ["t"], ["tst"]):
            state["npm"] |= {"test", "pretest", "posttest"}
        elif verbs[:1] in (["run"], ["run-script"]) and len(verbs) > 1:
            state["npm"] |= {verbs[1], "pre" + verbs[1], "post" + verbs[1]}
        elif verbs[:1] in (["install"], ["ci"], ["i"]):
            state["installs"] = True
            state["npm"] |= {"preinstall", "install", "postinstall", "prepare"}
        elif verbs:
            state["npm"].add(verbs[0])
        runners.update(JS_RUNNERS)  # a script may run any of them
    elif base in JS_RUNNERS:
        runners |= {NODE, base}
    elif base in ("cargo", "rustc"):
        runners.add(CARGO)
    elif base in ("make", "gmake"):
        runners.add(MAKE)
        targets = [a for a in args if not a.startswith("-") and "=" not in a]
        state["make"] = list(state["make"] or []) + targets
    elif base == "go":
        runners.add(GO)
    elif base in COMPILERS:
        runners.add(C)
        if "-o" in args and args.index("-o") + 1 < len(args):
            out = _work_rel(args[args.index("-o") + 1])
            if out:
                state["produced"].add(out)
    elif base not in HARMLESS:
        runners |= ALL_RUNNERS
