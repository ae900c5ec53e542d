"""Running a task's tests and judging them: the one path verify and validation share.

:func:`run_tests` prepares a run (the channel's reporter, the nonce, the canaries in
the task's own test files), runs the test command in the sandbox session, reads the
structured report and hands everything to :func:`cab_core.verdict.judge.judge`.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import uuid
from pathlib import Path
from typing import Optional, Sequence

from ..models import ProcessResult
from .channels import Channel, channel_for
from .judge import Canaries, Verdict, judge
from .report import read_capped

TEST_OUTPUT_CAP = 2 * 1024 * 1024


def test_candidates(task, root: Path) -> list[str]:
    """Test files canaries may join: the task's protected files and hidden tests present in ``root``."""
    from ..globs import match_any
    from ..tasks import list_files

    found = []
    for rel in list_files(root):
        if match_any(rel, task.protected):
            found.append(rel)
    if task.hidden_tests:
        found += [rel for rel in list_files(task.hidden_tests) if rel not in found]
    return sorted(found)


def place_canaries(channel: Channel, task, root: Path, *, enabled: bool = True) -> Canaries:
    """Append a must-pass and a must-fail test, under names fresh for this run, to each test file."""
    if not enabled:
        return Canaries(why_not="canaries off")
    if not channel.structured:
        return Canaries(why_not=f"the {channel.name} channel has no canaries")
    files = channel.test_files(root, test_candidates(task, root))
    if not files:
        return Canaries(why_not="no test file of the task can take canaries")
    pass_names, fail_names, placed = [], [], []
    taken: set[str] = set()  # every test name of the run: a canary must not share a leaf with any
    for rel in files:
        data = read_capped(root / rel, 4 << 20)
        taken |= set(channel.test_names(data.decode("utf-8", "replace"))) if data else set()
    for rel in files:
        target = root / rel
        data = read_capped(target, 4 << 20) if target.exists() or target.is_symlink() else b""
        if data is None:
            continue
        original = data.decode("utf-8", "replace")
        # Two names shaped like the file's own tests, nothing in them saying which one must fail.
        pass_name = _canary_name(channel, original, taken)
        taken.add(pass_name)
        fail_name = _canary_name(channel, original, taken)
        taken.add(fail_name)
        text = channel.canary_source(rel, original, pass_name, fail_name)
        if text is None:
            continue
        _write_fresh(target, text)
        pass_names.append(pass_name)
        fail_names.append(fail_name)
        placed.append(rel)
    if not placed:
        return Canaries(why_not="no test file of the task can take canaries")
    return Canaries(pass_names=pass_names, fail_names=fail_names, files=placed)


def _canary_name(channel: Channel, text: str, taken: set) -> str:
    """A name fresh for this run, made like ``text``'s own test names: a real name's first words,
    one of the file's words and a made-up word (``test_basic_counts`` -> ``test_basic_ties_rovuke``).

    Not one real name plus a token, so code reading the names at run time cannot tell the
    canaries from tests it has never seen by their shape.
    """
    made_up = "".join(secrets.choice("bcdfghklmnprstvz" if i % 2 == 0 else "aeiou") for i in range(6))
    names = [n for n in channel.test_names(text) if n.replace("_", "").replace(" ", "").isalnum()]
    if not names:
        return f"{channel.fresh_prefix}{made_up}"
    base = secrets.choice(names)
    sep = " " if " " in base else "_"
    words = sorted({w for n in names for w in n.split(sep) if w.isalnum()})
    head = base.split(sep)
    for _ in range(20):
        tail = [secrets.choice(words), made_up]
        if secrets.randbelow(2):
            tail.reverse()
        candidate = sep.join(head[: max(1, len(head) // 2)] + tail)
        if candidate not in taken and candidate.replace(sep, "").isalnum():
            return candidate
    return f"{base}{sep}{made_up}"


def _write_fresh(target: Path, text: str) -> None:
    """Write ``target`` as a new regular file (whatever was there, a link included, is replaced)."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


#: First words that are the shell's own (keywords and builtins): a command starting with one is left to it.
_SHELL_WORDS = frozenset(
    "! [[ ]] { } case do done elif else esac fi for function if in select then time until while "
    ". : [ alias bg break builtin cd command continue declare echo eval exec exit export false fc fg getopts "
    "hash jobs kill let local logout printf pwd read readonly return set shift source test times trap true "
    "type typeset ulimit umask unalias unset wait".split())
#: Characters that make the shell do more than split words when unquoted (expansions, globs,
#: redirections, operators, comments, escapes, a second line).
_SPECIAL = frozenset("$`\\*?[]{}~;&|<>()#!\n\r")


def simple_command(command: str) -> bool:
    """Whether ``/bin/sh -c command`` runs one program with words the shell only splits and unquotes
    (no expansion, glob, redirection, operator, variable assignment or builtin), so ``exec command``
    runs the very same argv."""
    quote = None
    for ch in command:
        if quote == "'":
            quote = None if ch == "'" else quote
        elif quote == '"':
            if ch == '"':
                quote = None
            elif ch in "$`\\":
                return False
        elif ch in "'\"":
            quote = ch
        elif ch in _SPECIAL:
            return False
    if quote is not None:
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return bool(words) and words[0] not in _SHELL_WORDS and "=" not in words[0]


def run_tests(session, task, root: Path, home: Path, env: dict, *, expected: Optional[Sequence[str]],
              canaries: bool = True, marker: Optional[str] = None, timeout: Optional[float] = None
              ) -> tuple[ProcessResult, Verdict]:
    """Run ``task``'s tests in ``root`` (the verify copy) and judge them."""
    channel = channel_for(task, root)
    placed = place_canaries(channel, task, root, enabled=canaries)
    run_id = uuid.uuid4().hex[:12]
    report_dir = home / f".cab-verdict-{run_id}"
    report_dir.mkdir(parents=True)
    key = secrets.token_hex(32)
    nonce_file = report_dir / f"nonce-{run_id}"
    if channel.signed:
        nonce_file.write_text(key)
    command, extra = channel.prepare(task.test_command, report_dir, nonce_file, run_id)
    # A __pycache__ or .pyc the agent left (an unchecked-hash .pyc runs whatever it holds,
    # whatever the .py says) never reaches this copy: the snapshot leaves both out.  (A
    # PYTHONPYCACHEPREFIX of the run's own did the same at 1.4 s a run: it recompiled the
    # standard library and pytest every time.)
    full_env = {**env, **extra}
    if "PYTHONPATH" in extra and env.get("PYTHONPATH"):
        full_env["PYTHONPATH"] = extra["PYTHONPATH"] + os.pathsep + env["PYTHONPATH"]
    # A simple command replaces the shell (``exec``): no shell process forked, waited for and ended
    # around the tests, as a shell runs its last command (dash forks it); the same argv, exit code,
    # process group and "not found" (127).
    script = f"exec {command}" if simple_command(command) else command
    result = session.run(["/bin/sh", "-c", script], cwd=root, env=full_env,
                         timeout=timeout or task.test_timeout, writable=[home], output_cap=TEST_OUTPUT_CAP,
                         marker=marker)
    report = channel.read(report_dir, key.encode()) if channel.structured else None
    contradicted = channel.contradicted(report, result.output) if report is not None else []
    verdict = judge(exit_code=result.exit_code, timed_out=result.timed_out, output=result.output, report=report,
                    expected=expected, canaries=placed, channel=channel.name, contradicted=contradicted)
    return result, verdict
