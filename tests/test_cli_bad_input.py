"""Bad input to every command: one line naming what is wrong, exit 2, no traceback, nothing written lost.

Each case runs the whole ``cab`` command line in this process (the ``cab`` fixture, as
the console script would) and asserts on the one line it prints.  The cases are what a
user mistypes or points at the wrong place: unknown names (with the closest offered),
click's own usage errors, malformed files (TOML, JSON, YAML), paths that are files or
cannot be written, results written by another version, an interrupted sweep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cab_core.errors import UnknownNameError, close_matches

TASK = "polyglot/python-slugify"


def one_line_error(proc, *needles: str, code: int = 2) -> str:
    """The single ``Error: ...`` line of a failed call, holding every needle; never a traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ------------------------------------------------------------------ names and suggestions


def test_close_matches_offer_the_nearest_names_only():
    assert close_matches("pii", ["aider", "pi", "opencode"]) == ["pi"]
    assert close_matches("rust-error-handlin", ["polyglot/rust-error-handling", "polyglot/rust-ring-buffer"]) == [
        "polyglot/rust-error-handling"]
    assert close_matches("polyglot/python-slugfy", ["polyglot/python-slugify", "polyglot/python-csv-line"]) == [
        "polyglot/python-slugify"]
    assert close_matches("zzz", ["aider", "pi"]) == []


def test_a_long_list_of_names_is_cut():
    err = UnknownNameError("task", "x/y", [f"a/t{i:02d}" for i in range(30)])
    assert str(err).endswith(", ... and 10 more)") and "a/t19" in str(err) and "a/t20" not in str(err)


@pytest.mark.parametrize("args, needles", [
    (("run", "-a", "pii", "-m", "x", "-t", TASK), ["unknown adapter 'pii', did you mean 'pi'? (available: "]),
    (("run", "-a", "command", "-m", "oracle", "-t", "rust-error-handlin"),
     ["unknown task 'rust-error-handlin', did you mean 'polyglot/rust-error-handling'?"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "--sandbox", "lcoal"),
     ["unknown sandbox 'lcoal', did you mean 'local'?"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "--plugin", "guidanc"),
     ["unknown agent plugin 'guidanc', did you mean 'guidance'?"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "-o", "comand=x"), ["'comand', did you mean 'command'?"]),
    (("run", "-a", "mini", "-m", "scripted/oracel", "-t", TASK),
     ["unknown scripted model 'scripted/oracel', did you mean 'scripted/oracle'?"]),
    (("sweep", "--adapters", "mini", "--models", "scripted/orcle", "--tasks", TASK),
     ["unknown scripted model 'scripted/orcle', did you mean 'scripted/oracle'?"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "--weights", "pass_rat=1"),
     ["unknown axis 'pass_rat', did you mean 'pass_rate'?"]),
    (("check", "--adapter", "opencod", "--model", "x"), ["unknown adapter 'opencod', did you mean 'opencode'?"]),
    (("check", "--adapter", "command", "--model", "oracle", "-o", "comand=x"), ["'comand', did you mean 'command'?"]),
    (("agents", "install", "aidr"), ["unknown agent 'aidr', did you mean 'aider'?"]),
    (("tasks", "show", "polyglot/python-slugfy"), ["did you mean 'polyglot/python-slugify'?"]),
    (("model", "serve", "--task", "nope/x"), ["unknown task 'nope/x' (available: "]),
    (("tasks", "import", "harbour", ".", "--out", "o"), ["unknown task format 'harbour', did you mean 'harbor'?"]),
])
def test_unknown_names_are_one_line_with_the_closest(cab, tmp_path, args, needles):
    one_line_error(cab(*args, "--results", tmp_path / "r") if args[0] in ("run", "sweep") else cab(*args, cwd=tmp_path),
                   *needles)


# ------------------------------------------------------------------ click's own usage errors


@pytest.mark.parametrize("args, needles", [
    (("runn",), ["No such command 'runn'. Did you mean 'run'?", "(see 'cab --help')"]),
    (("summary",), ["Missing argument 'SWEEP_ID' (see 'cab summary --help')"]),
    (("scorers", "--bogus"), ["No such option '--bogus'"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "--timeout", "abc"), ["'--timeout': 'abc' is not a valid float"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "-o", "bogus"), ["'bogus' is not KEY=VALUE"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "--max-tokens", "0"), ["'--max-tokens': 0 is not in the range"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "--max-cost", "-1"), ["'--max-cost'"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "--trial", "0"), ["'--trial'"]),
    (("sweep", "--trials", "0"), ["'--trials'"]),
    (("new", "widget", "x"), ["'widget' is not one of"]),
    (("summary", "x", "--compare", "a:b"), ["'--compare' requires 2 arguments"]),
    (("run", "-a", "command", "-m", "oracle", "-t", TASK, "--mode", "tui"), ["'--mode'"]),
])
def test_usage_errors_are_one_line_naming_the_command(cab, args, needles):
    one_line_error(cab(*args), *needles)


def test_help_and_version_still_work(cab):
    assert cab("--version").stdout.startswith("cab, version ")
    assert "Usage: cab run" in cab("run", "--help").stdout
    group = cab("export")  # a group without a subcommand shows its help
    assert "atif" in group.stdout + group.stderr and "Traceback" not in group.stderr


# ------------------------------------------------------------------ values


@pytest.mark.parametrize("extra, needles", [
    (("--price", "x"), ["--price 'x': expected MODEL=INPUT,OUTPUT"]),
    (("--price", "oracle=a,b"), ["--price 'oracle=a,b'"]),
    (("--price", "oracle=-1,2"), ["non-negative"]),
    (("--weights", "pass_rate=x"), ["--weights: 'pass_rate=x' is not AXIS=WEIGHT"]),
    (("--timeout", "-5"), ["--timeout -5.0 must be a positive number"]),
    (("--endpoint", "notaurl"), ["--endpoint 'notaurl': expected an http:// or https:// URL"]),
    (("--endpoint", "http://h:port/v1"), ["--endpoint 'http://h:port/v1': not a valid URL"]),
])
def test_bad_values_of_run(cab, tmp_path, extra, needles):
    one_line_error(cab("run", "-a", "command", "-m", "oracle", "-t", TASK, "--results", tmp_path / "r", *extra), *needles)


def test_an_adapter_refusing_its_configuration_is_one_line_and_no_cell(cab, tmp_path):
    """A model the adapter cannot run, a missing ``-o command``: the user's error, not an infrastructure cell."""
    results = tmp_path / "r"
    one_line_error(cab("run", "-a", "command", "-m", "custom", "-t", TASK, "--results", results),
                   "adapter command:", "-o command=")
    assert not [p for p in results.rglob("*") if p.is_file()]  # no cell, no staging left


def test_bad_values_of_sweep_and_wiring(cab, tmp_path):
    base = ("sweep", "--adapters", "command", "--models", "oracle", "--tasks", TASK, "--results", tmp_path / "r")
    one_line_error(cab(*base, "--price", "oracle=1"), "--price 'oracle=1'")
    one_line_error(cab(*base, "--endpoint", "ftp://x/"), "--endpoint 'ftp://x/'")
    one_line_error(cab(*base[:5], "--tasks", "zzz*"), "no task matches 'zzz*'")
    one_line_error(cab("agents", "wiring", "pi", "--endpoint", "notaurl"), "--endpoint 'notaurl'")
    one_line_error(cab("badge", str(tmp_path)), "give either --cell ID, or both --adapter and --model")


# ------------------------------------------------------------------ paths


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "afile"
    path.write_text("mine\n")
    return path


def test_results_that_is_a_file_or_cannot_be_made(cab, tmp_path, a_file):
    run = ("run", "-a", "command", "-m", "oracle", "-t", TASK)
    one_line_error(cab(*run, "--results", a_file), f"--results {a_file}: is a file, not a folder")
    one_line_error(cab(*run, "--results", a_file / "sub"), f"--results {a_file / 'sub'}: cannot create this folder ({a_file} is a file)")
    sweep = ("sweep", "--adapters", "command", "--models", "oracle", "--tasks", TASK)
    one_line_error(cab(*sweep, "--results", a_file), "is a file, not a folder")
    one_line_error(cab(*sweep, "--results", a_file / "sub"), "cannot create this folder")
    one_line_error(cab("index", "--results", a_file), "is a file, not a folder")
    one_line_error(cab("index", "--results", tmp_path / "none"), "no such folder")
    assert not (tmp_path / "none").exists() and a_file.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # a refused call creates nothing


def test_an_unwritable_results_folder(cab, tmp_path):
    if os.geteuid() == 0:  # root writes anywhere: a read-only bind is what stops it, so use /proc
        target = Path("/proc/cab-nope")
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        target = tmp_path / "ro" / "results"
    one_line_error(cab("run", "-a", "command", "-m", "oracle", "-t", TASK, "--results", target), f"--results {target}")


def test_cassette_paths(cab, tmp_path, a_file):
    run = ("run", "-a", "command", "-m", "oracle", "-t", TASK, "--results", tmp_path / "r")
    one_line_error(cab(*run, "--record-cassette", tmp_path), f"--record-cassette {tmp_path}: is a folder, not a file")
    one_line_error(cab(*run, "--record-cassette", a_file / "c.jsonl"),
                   f"--record-cassette {a_file / 'c.jsonl'}: cannot write this file ({a_file} is a file, not a folder)")
    one_line_error(cab(*run, "--replay-cassette", tmp_path / "none.jsonl"), "'--replay-cassette'", "does not exist")
    one_line_error(cab(*run, "--replay-cassette", tmp_path), "'--replay-cassette'", "is a directory")
    one_line_error(cab(*run, "--replay-cassette", a_file), f"cannot replay {a_file}", "not a valid entry")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("cell.json"))


def test_report_and_scaffold_paths(cab, tmp_path, a_file):
    one_line_error(cab("report", tmp_path / "none"), "Directory", "does not exist")
    one_line_error(cab("report", a_file), "is a file")
    (tmp_path / "results").mkdir()
    one_line_error(cab("report", tmp_path / "results", "--out", a_file / "site"), f"--out {a_file}: is a file, not a folder")
    one_line_error(cab("new", "adapter", "Bad_Name"), "plugin name 'Bad_Name' must be lower-case")
    one_line_error(cab("new", "adapter", "x", "--out", a_file), "is a file")
    one_line_error(cab("new", "adapter", "pi"), "plugin name 'pi' is taken by the installed cab-adapters")


def test_task_folders_that_are_files_or_hold_nothing(cab, tmp_path, a_file):
    # (a file can hold tasks, SWE-bench's JSONL: one no format reads is named as such)
    one_line_error(cab("tasks", "list", "--tasks-dir", a_file), "cannot tell the task format")
    one_line_error(cab("tasks", "list", "--tasks-dir", tmp_path / "none"), "tasks folder does not exist")
    (tmp_path / "empty").mkdir()
    one_line_error(cab("tasks", "import", "native", tmp_path / "empty", "--out", tmp_path / "o"),
                   "no native tasks found there")


# ------------------------------------------------------------------ malformed files


@pytest.mark.parametrize("text, needles", [
    ("adapters = [\n", ["not valid TOML"]),
    ('{"adapters": ["command"]}\n', ["not valid TOML"]),
    ('adapters = ["command"]\nmodles = ["oracle"]\n', ["unknown field 'modles', did you mean 'models'?", "(known: "]),
    ("adapters = 3\n", ["field adapters: expected a list"]),
    ('adapters = ["command"]\ntrials = "x"\n', ["field trials: expected an integer, got 'x'"]),
    ('adapters = ["command"]\ntrials = 0\n', ["field trials: must be at least 1"]),
])
def test_malformed_sweep_files(cab, tmp_path, text, needles):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    line = one_line_error(cab("sweep", path), *needles)
    assert str(path) in line
    one_line_error(cab("sweep", tmp_path / "none.toml"), "sweep file not found")


@pytest.mark.parametrize("text, needles", [
    ('id = "demo/bad"\nprompt = \n', ["task.toml: not valid TOML"]),
    ('id = "demo/bad"\nprompt = "x"\nlanguage = 3\ntest_command = "true"\n', ["field language: expected a string, got 3"]),
    ('id = "demo/bad"\nlanguage = "python"\ntest_command = "true"\n', ["field prompt: required field missing"]),
    ('id = "demo/bad"\nprompt = "x"\nlanguage = "python"\ntest_command = "true"\nprotectd = []\n',
     ["unknown field 'protectd', did you mean 'protected'?"]),
])
def test_malformed_task_files(cab, tmp_path, text, needles):
    folder = tmp_path / "tasks" / "demo" / "bad"
    (folder / "workspace").mkdir(parents=True)
    (folder / "task.toml").write_text(text)
    one_line_error(cab("tasks", "list", "--tasks-dir", tmp_path / "tasks"), *needles)
    one_line_error(cab("run", "-a", "command", "-m", "oracle", "-t", "demo/bad", "--tasks-dir", tmp_path / "tasks",
                       "--results", tmp_path / "r"), *needles)


@pytest.mark.parametrize("name, text, needle", [
    ("a.exercise.yaml", "prompt: [\n", "not valid YAML"),
    ("a.exercise.json", '{"prompt": \n', "not valid JSON"),
])
def test_malformed_yaml_and_json_task_files(cab, tmp_path, name, text, needle):
    # The example task source (examples/cab-tasks-exercise-file, installed by setup) reads both.
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / name).write_text(text)
    one_line_error(cab("tasks", "list", "--tasks-dir", tmp_path / "ex"), name, needle)


# ------------------------------------------------------------------ results from another version


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    """A real two-cell sweep (command oracle and noop), copied by each test that changes it."""
    from cab_core.testing import run_cab_in_process

    root = tmp_path_factory.mktemp("sweep") / "results"
    proc = run_cab_in_process("sweep", "--adapters", "command", "--models", "oracle,noop", "--tasks", TASK,
                              "--sweep-id", "s1", "--results", root)
    assert proc.returncode == 0, proc.stderr
    return root


def _copy(root: Path, tmp_path: Path) -> Path:
    out = tmp_path / "results"
    shutil.copytree(root, out)
    return out


def test_a_cell_from_a_newer_cab_is_left_out_and_named(cab, finished_sweep, tmp_path):
    root = _copy(finished_sweep, tmp_path)
    (root / "index.sqlite").unlink()
    cell = next(root.rglob("noop/**/cell.json"))
    data = json.loads(cell.read_text())
    data["schema_version"] = 99
    cell.write_text(json.dumps(data))
    summary = cab("summary", "s1", "--results", root)
    assert summary.returncode == 0 and "Traceback" not in summary.stderr
    assert "warning: 1 cell file(s) under" in summary.stderr and "noop" not in summary.stdout.split("paired")[0]
    report = cab("report", root, "--out", tmp_path / "site")
    assert report.returncode == 0 and "written by a newer cab (schema_version 99" in report.stderr
    assert json.loads(cell.read_text())["schema_version"] == 99  # untouched


def test_an_unreadable_cell_drops_its_stale_index_row(cab, finished_sweep, tmp_path):
    root = _copy(finished_sweep, tmp_path)
    cell = next(root.rglob("noop/**/cell.json"))
    cell.write_text('{"cell_id": 3')
    summary = cab("summary", "s1", "--results", root, "--json")
    assert summary.returncode == 0 and "could not be read" in summary.stderr
    assert [e["model"] for e in json.loads(summary.stdout)["leaderboard"]] == ["oracle"]


def test_a_sweep_manifest_from_another_version_is_never_replaced(cab, finished_sweep, tmp_path):
    root = _copy(finished_sweep, tmp_path)
    manifest = root / "s1" / "sweep.json"
    for text, needle in (('{"schema_version": 99}\n', "written by another version of cab (manifest schema_version 99"),
                         ("[1\n", "not a sweep manifest cab can read")):
        manifest.write_text(text)
        one_line_error(cab("sweep", "--resume", "--sweep-id", "s1", "--results", root), needle)
        one_line_error(cab("sweep", "--adapters", "command", "--models", "oracle", "--tasks", TASK,
                           "--sweep-id", "s1", "--results", root), needle)
        assert manifest.read_text() == text


def test_an_index_that_is_not_sqlite_is_rebuilt(cab, finished_sweep, tmp_path):
    root = _copy(finished_sweep, tmp_path)
    (root / "index.sqlite").write_text("garbage")
    summary = cab("summary", "s1", "--results", root, "--json")
    assert summary.returncode == 0, summary.stderr
    assert sorted(e["model"] for e in json.loads(summary.stdout)["leaderboard"]) == ["noop", "oracle"]


# ------------------------------------------------------------------ Ctrl-C, then --resume


@pytest.mark.slow
def test_ctrl_c_in_a_sweep_then_resume_loses_nothing(tmp_path):
    cab = [sys.executable, "-c", "import sys; from cab_core.cli import main; main(sys.argv[1:])"]
    args = ["sweep", "--adapters", "command", "--models", "custom", "-o", "command=sleep 1.5; true",
            "--tasks", TASK, "--trials", "4", "--sweep-id", "cc", "--results", str(tmp_path / "r")]
    proc = subprocess.Popen([*cab, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list((tmp_path / "r").rglob("cell.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "resume with: cab sweep --resume --sweep-id cc" in err
    def identity(path):  # what a rerun would change (the sweep's renormalisation rewrites the composite only)
        data = json.loads(path.read_text())
        return data["started_at"], data["scores"]["pass_rate"]["value"]

    done = {p: identity(p) for p in (tmp_path / "r").rglob("cell.json")}
    assert 1 <= len(done) < 4
    again = subprocess.run([*cab, "sweep", "--resume", "--results", str(tmp_path / "r")], capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} already complete" in again.stderr
    assert all(identity(p) == data for p, data in done.items())  # the finished cells were kept, not rerun
    assert len(list((tmp_path / "r").rglob("cell.json"))) == 4


# ------------------------------------------------------------------ more options


@pytest.mark.parametrize("args, needles", [
    (("sweep", "--adapters", "command", "--models", "oracle", "--tasks", ""), ["--tasks: an empty pattern"]),
    (("sweep", "--adapters", "command", "--models", "oracle", "--tasks", TASK, "--executor", "dask", "--scheduler",
      "notaurl"), ["--scheduler 'notaurl': expected a Dask scheduler address"]),
    (("sweep", "--adapters", "command", "--models", "oracle", "--tasks", TASK, "--executor", "dsk"),
     ["unknown executor 'dsk', did you mean 'dask'?"]),
    (("summary", "s", "--json", "--csv"), ["give --json or --csv, not both"]),
    (("replay", "x", "--speed", "0"), ["'--speed': 0.0 is not in the range x>0"]),
    (("view", ".", "--port", "99999", "--no-open"), ["'--port': 99999 is not in the range 0<=x<=65535"]),
    (("model", "serve", "--task", TASK, "--port", "-1"), ["'--port'"]),
    (("tasks", "validate", "--jobs", "0"), ["'--jobs' / '-j': 0 is not in the range x>=1"]),
    (("badge", ".", "--cell", "x", "--output", "/proc/cab-nope/b.svg"), ["no cell 'x'"]),
])
def test_more_bad_options(cab, tmp_path, args, needles):
    if args[0] == "sweep":
        args = (*args, "--results", tmp_path / "r")
    one_line_error(cab(*args, cwd=tmp_path), *needles)
    assert not list(tmp_path.rglob("cell.json"))


@pytest.mark.slow
def test_a_port_in_use_is_one_line(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-c", "import sys; from cab_core.cli import main; main(sys.argv[1:])",
                               "model", "serve", "--task", TASK, "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    one_line_error(proc, "the port is in use on 127.0.0.1: choose another with --port")


def test_sweep_ids_and_groups_that_are_not_there(cab, finished_sweep):
    one_line_error(cab("summary", "s2", "--results", finished_sweep), "no sweep 's2' under", "(known: s1)")
    one_line_error(cab("sweep", "--resume", "--sweep-id", "s2", "--results", finished_sweep),
                   "--resume: no sweep 's2' under", "(known: s1)")
    one_line_error(cab("summary", "s1", "--results", finished_sweep, "--compare", "command:orcle", "command:noop"),
                   "no cells for command:orcle in this sweep, did you mean 'command:oracle'?")
    one_line_error(cab("compare", "nope/x", "s1/command/noop/" + TASK, "--results", finished_sweep), "'nope/x'")


@pytest.mark.parametrize("option, plugins, needles", [
    ("guidanc.file=x", (), ["-o guidanc.file: 'guidanc' is neither a stacked agent plugin nor one of limit., proxy."]),
    ("guidance.file=x", (), ["(stack a plugin with --plugin guidance)"]),
    ("limits.pids=64", (), ["did you mean 'limit.'?"]),
    ("env.X=1", ("guidance",), ["-o env.X: 'env' is neither"]),
])
def test_dotted_options_must_reach_a_plugin_or_the_core(cab, tmp_path, option, plugins, needles):
    stack = [a for p in plugins for a in ("--plugin", p)]
    one_line_error(cab("run", "-a", "command", "-m", "oracle", "-t", TASK, "-o", option, *stack,
                       "--results", tmp_path / "r"), *needles)
    one_line_error(cab("sweep", "--adapters", "command", "--models", "oracle", "--tasks", TASK, "-o", option, *stack,
                       "--results", tmp_path / "r"), *needles)
    assert not (tmp_path / "r").exists()


def test_a_plugin_list_naming_nothing_installed_is_a_warning_or_strict_error(cab):
    listing = cab("adapters", env={"CAB_DISABLE_PLUGINS": "comand"})
    assert listing.returncode == 0 and "command" in listing.stdout
    assert listing.stderr.strip() == listing.stderr.strip().splitlines()[0]
    assert listing.stderr.startswith("cab: warning: CAB_DISABLE_PLUGINS: unknown plugin 'comand', did you mean 'command'?")
    strict = cab("adapters", env={"CAB_LOAD_PLUGINS": "command,nope", "CAB_STRICT_PLUGINS": "1"})
    one_line_error(strict, "unknown plugin 'nope' (available: ")
