"""A task's test command runs in place of its shell when the shell would only split its words.

``/bin/sh -c COMMAND`` forks the command when it is the last one (dash does), then waits for
it and exits: a process started, waited for and ended around every test run.  For one simple
command the verify step runs ``exec COMMAND``: the very same argv and exit code, with the
program in the shell's place.  Anything the shell does more with (expansions, globs,
redirections, operators, assignments, builtins) is left to the shell as written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cab_core.verdict.run import simple_command

SIMPLE = [
    "python -m pytest -q -p no:cacheprovider",
    "pytest -q tests/test_calc.py",
    "cargo test --quiet",
    "go test ./...",
    "node --test",
    "npm test",
    """bash -c 'ts=$EPOCHREALTIME; python -m pytest -q; echo "done $?"'""",
    "python3 -m pytest -q --maxfail=1 -k 'not slow and fast'",
    'probe "two words" \'single $quoted\' "" end',
]
NOT_SIMPLE = [
    "pytest -q && echo ok", "pytest; echo ok", "pytest | tee log", "pytest > out.txt", "pytest 2>&1",
    "pytest tests/*.py", "pytest test_?.py", "pytest $ARGS", "pytest \"$ARGS\"", "pytest `echo x`",
    "pytest $(echo x)", "pytest ~/tests", "FOO=1 pytest", "cd tests && pytest", "cd tests", "'cd' tests",
    "exec pytest", "echo hi", "test -f x", "pytest # comment", "pytest\npytest", "(pytest)", "{ pytest; }",
    "pytest &", "! pytest", "pytest \\\n -q", "if true; then pytest; fi", "pytest 'unclosed", "", "   ",
    "pytest -k a\\ b",
]


@pytest.mark.parametrize("command", SIMPLE)
def test_a_simple_command_is_run_in_place_of_its_shell(command):
    assert simple_command(command)


@pytest.mark.parametrize("command", NOT_SIMPLE)
def test_a_command_the_shell_does_more_with_is_left_to_it(command):
    assert not simple_command(command)


@pytest.mark.parametrize("args", ['"two words" \'single $quoted\' "" end', "--maxfail=1 -k 'not slow' ./...",
                                  "'a\"b' \"c'd\" 'e f'"])
def test_exec_runs_the_very_argv_the_shell_would(tmp_path, args):
    probe = tmp_path / "probe"
    probe.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                     "print(json.dumps([sys.argv[1:], os.getppid()]))\nsys.exit(3)\n")
    probe.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    command = f"probe {args}"
    assert simple_command(command)
    shell = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, env=env)
    in_place = subprocess.run(["/bin/sh", "-c", f"exec {command}"], capture_output=True, text=True, env=env)
    (argv, parent), (argv_in_place, parent_in_place) = json.loads(shell.stdout), json.loads(in_place.stdout)
    assert argv_in_place == argv and shell.returncode == in_place.returncode == 3
    assert parent_in_place == os.getpid() and parent != os.getpid()  # no shell between: it is the shell


def test_a_missing_program_is_127_either_way(tmp_path):
    for script in ("no-such-program-here -q", "exec no-such-program-here -q"):
        assert subprocess.run(["/bin/sh", "-c", script], capture_output=True, cwd=tmp_path).returncode == 127
