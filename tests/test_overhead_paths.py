"""The cheaper per-cell paths of issue 16 keep the guarantees of the paths they replace."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cab_core.sandbox.local import LocalSession
from cab_core.sandbox.piped import run_piped
from cab_core.verdict import expected
from cab_core.workspace import CellWorkspace, template
from cab_core.workspace.snapshot import git


def _env():
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


# ------------------------------------------------------------------ run_piped
def test_piped_output_and_exit_code(tmp_path):
    r = run_piped(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], env=_env(), cwd=tmp_path, timeout=10)
    assert r.exit_code == 3 and "out" in r.output and "err" in r.output and not r.timed_out


def test_piped_has_no_terminal_and_no_stdin(tmp_path):
    r = run_piped(["/bin/sh", "-c", "test -t 1 && echo tty || echo notty; cat; echo done"], env=_env(),
                  cwd=tmp_path, timeout=10)
    assert "notty" in r.output and "done" in r.output


@pytest.mark.slow
def test_piped_timeout_kills_the_group(tmp_path):
    flag = tmp_path / "late"
    t0 = time.monotonic()
    r = run_piped(["/bin/sh", "-c", f"(sleep 3; touch {flag}) & sleep 30"], env=_env(), cwd=tmp_path, timeout=0.5)
    assert r.timed_out and r.exit_code is None and time.monotonic() - t0 < 5
    time.sleep(3.5)
    assert not flag.exists()


def test_piped_output_cap_keeps_the_tail(tmp_path):
    r = run_piped(["/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a; echo END"], env=_env(), cwd=tmp_path,
                  timeout=20, output_cap=1000)
    assert r.output_truncated and r.output.rstrip().endswith("END") and len(r.output) < 300_000


def test_piped_missing_executable(tmp_path):
    r = run_piped([str(tmp_path / "nope")], env=_env(), cwd=tmp_path, timeout=5)
    assert r.exit_code == 127 and r.error


def test_piped_watch_breach_stops_the_command(tmp_path):
    calls = []

    def watch(force=False):
        calls.append(force)
        return "limit exceeded: test" if len(calls) > 1 else None

    r = run_piped(["/bin/sh", "-c", "sleep 30"], env=_env(), cwd=tmp_path, timeout=20, watch=watch)
    assert r.error == "limit exceeded: test" and r.duration_ms < 10_000


def test_session_uses_a_terminal_only_when_recording(tmp_path):
    session = LocalSession(isolate=False)
    probe = ["/bin/sh", "-c", "test -t 1 && echo tty || echo notty"]
    piped = session.run(probe, cwd=tmp_path, env=_env(), timeout=10)
    pty = session.run(probe, cwd=tmp_path, env=_env(), timeout=10, cast_path=tmp_path / "t.cast")
    assert "notty" in piped.output and "tty" in pty.output and "notty" not in pty.output


# ------------------------------------------------------------------ template
class _Task:
    def __init__(self, root: Path):
        self.id = "bench/t"
        self.workspace = root / "workspace"
        self.workspace.mkdir(parents=True)
        (self.workspace / "a.py").write_text("x = 1\n")
        self.protected = []
        self.test_command = "true"
        self.reporter = ""
        self.solution_command = None
        self.solution_dir = None
        self.hidden_tests = None
        self.solution_patch = None


def test_cells_share_a_template_but_never_write_it(tmp_path):
    task = _Task(tmp_path)
    one, two = CellWorkspace(task), CellWorkspace(task)
    try:
        one.prepare()
        (one.work / "a.py").write_text("hacked\n")
        (one.work / ".git" / "HEAD").write_text("ref: refs/heads/evil\n")
        two.prepare()
        assert (two.work / "a.py").read_text() == "x = 1\n"
        assert (task.workspace / "a.py").read_text() == "x = 1\n"
        assert (template.template(task) / "a.py").read_text() == "x = 1\n"
        status = git(["status", "--porcelain"], cwd=two.work).stdout
        assert status.strip() == b""
        assert two.agent_baseline and git(["rev-parse", "HEAD"], cwd=two.work).stdout.decode().strip() == two.agent_baseline
        assert one.baseline == two.baseline
    finally:
        one.close()
        two.close()


def test_template_follows_an_edited_task(tmp_path):
    task = _Task(tmp_path)
    first = CellWorkspace(task)
    first.prepare()
    first.close()
    time.sleep(0.01)
    (task.workspace / "a.py").write_text("x = 2\n")  # same size, new content
    (task.workspace / "b.py").write_text("y\n")
    cell = CellWorkspace(task)
    try:
        cell.prepare()
        assert (cell.work / "a.py").read_text() == "x = 2\n" and (cell.work / "b.py").exists()
        assert b"b.py" in git(["ls-files"], cwd=cell.work).stdout
        assert set(cell.baseline_files) == {"a.py", "b.py"}
    finally:
        cell.close()


# ------------------------------------------------------------------ fingerprint cache
def test_fingerprint_cache_sees_a_same_size_edit(tmp_path):
    task = _Task(tmp_path)
    before = expected.fingerprint(task)
    assert expected.fingerprint(task) == before
    path = task.workspace / "a.py"
    path.write_text("x = 3\n")
    os.utime(path, ns=(1, 1))  # even with an old mtime: ctime and content size/inode checks
    assert expected.fingerprint(task) != before
    assert expected.fingerprint(task) == expected._fingerprint(task)


def test_fingerprint_cache_sees_a_new_file(tmp_path):
    task = _Task(tmp_path)
    before = expected.fingerprint(task)
    (task.workspace / "sub").mkdir()
    (task.workspace / "sub" / "c.py").write_text("")
    assert expected.fingerprint(task) != before


# ------------------------------------------------------------------ marker sweeps
def test_sweep_is_skipped_only_after_a_clean_sweep_since_the_last_launch(tmp_path, monkeypatch):
    from cab_core.sandbox import procs

    scans = []
    real = procs.marked_pids
    monkeypatch.setattr(procs, "marked_pids", lambda m: scans.append(m) or real(m))
    marker = "overhead-test-" + os.urandom(6).hex()
    procs.sweep(marker)
    procs.sweep(marker)
    assert len(scans) == 2  # never launched through a sandbox that notes launches: always scans
    procs.note_launch(marker)
    procs.kill_marked(marker)
    procs.sweep(marker)
    assert len(scans) == 3  # clean since the last launch: skipped
    procs.note_launch(marker)
    procs.sweep(marker)
    assert len(scans) == 4  # launched since: scans
    procs.forget(marker)


def test_a_daemon_left_by_a_local_command_is_killed(tmp_path):
    from cab_core.sandbox import procs

    marker = "overhead-test-" + os.urandom(6).hex()
    env = {**_env(), procs.MARKER_VAR: marker}
    session = LocalSession(isolate=False)
    session.run(["/bin/sh", "-c", "setsid sleep 60 >/dev/null 2>&1 </dev/null &"], cwd=tmp_path, env=env,
                timeout=10, marker=marker)
    assert procs.marked_pids(marker) == []
    assert procs.sweep(marker) == 0
    procs.forget(marker)


@pytest.mark.skipif(not shutil.which("bwrap"), reason="needs bubblewrap")
def test_a_daemon_left_in_bubblewrap_dies_with_the_command_without_a_proc_scan(tmp_path, monkeypatch):
    from cab_core.sandbox import procs

    scans = []
    real = procs.marked_pids
    monkeypatch.setattr(procs, "marked_pids", lambda m: scans.append(m) or real(m))
    marker = "overhead-test-" + os.urandom(6).hex()
    env = {**_env(), procs.MARKER_VAR: marker}
    session = LocalSession(isolate=True)
    tag = os.urandom(4).hex()
    session.run(["/bin/sh", "-c", f"setsid sh -c 'sleep 600; : {tag}' >/dev/null 2>&1 </dev/null & sleep 0.1"],
                cwd=tmp_path, env=env, timeout=10, marker=marker)
    assert procs.sweep(marker) == 0
    assert scans == []  # the PID namespace took everything with it: nothing to look for
    assert real(marker) == []
    assert subprocess.run(["pgrep", "-f", tag], capture_output=True).stdout == b""
    procs.forget(marker)


# ------------------------------------------------------------------ the final screen
@pytest.mark.slow
def test_plain_output_renders_as_the_terminal_emulator_does(tmp_path):
    import random

    import pyte

    from cab_core.sandbox.pty import _plain_screen

    rng = random.Random(16)
    for _ in range(300):
        lines = ["".join(rng.choice("ab c-=") for _ in range(rng.choice([0, 1, 5, 119, 120, 121, 240, 300])))
                 for _ in range(rng.randint(0, 60))]
        text = "\r\n".join(lines) + rng.choice(["", "\r\n", "\r\n\r\n"])
        screen = pyte.Screen(120, 40)
        pyte.Stream(screen).feed(text)
        assert _plain_screen(text, 120, 40) == [line.rstrip() for line in screen.display], text
    for odd in ("a\nb", "a\rb\r\n", "\x1b[31mred\r\n", "tab\there\r\n", "é\r\n"):
        assert _plain_screen(odd, 120, 40) is None


def test_cells_of_one_task_prepared_at_once_each_get_their_own_copy(tmp_path):
    """Many cells of a task prepared on parallel threads (a sweep's jobs): each its own starting files."""
    import threading

    task = _Task(tmp_path)
    spaces = [CellWorkspace(task) for _ in range(8)]
    errors = []

    def prepare(ws):
        try:
            ws.prepare()
            (ws.work / "a.py").write_text(f"x = {id(ws)}\n")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for _ in range(10):  # a race: several rounds
        threads = [threading.Thread(target=prepare, args=(ws,)) for ws in spaces]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert all((ws.work / "a.py").read_text() == f"x = {id(ws)}\n" for ws in spaces)
        for ws in spaces:
            ws.close()
        spaces = [CellWorkspace(task) for _ in range(8)]
    for ws in spaces:
        ws.close()


# ------------------------------------------------------------------ background work after the diff
def test_the_diffs_background_work_begins_only_when_asked_and_the_patch_is_there_either_way(tmp_path):
    task = _Task(tmp_path)
    for begin in (True, False):
        cell = CellWorkspace(task)
        try:
            cell.prepare()
            (cell.work / "a.py").write_text("x = 42\n")
            changes = cell.changes(defer_patch=True)
            assert cell._patch._thread.ident is None and cell._store._thread.ident is None  # nothing begun yet
            if begin:
                cell.start_background()
                cell.start_background()  # idempotent
                assert cell._patch._thread.ident is not None
            assert "x = 42" in cell.with_patch(changes).patch  # never begun: asking for it begins it
        finally:
            cell.close()
    idle = CellWorkspace(task)
    idle.prepare()
    idle.changes(defer_patch=True)
    idle.close()  # never begun, never asked for: closing does not wait for (or run) it


# These two run their cell in a fresh interpreter: what they check is when cab_core.sandbox.quiet's
# loop lets work go during that cell, and work left on it by earlier tests in this process (their
# cells, sweeps, threads) must not decide it.  The check is the same as in-process.
_ISOLATED = """
import inspect, json, sys, threading, time, traceback
from pathlib import Path

from cab_core import cellstate
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import Runner, RunOptions
from cab_core.sandbox import quiet
from cab_core.tasks import TaskCatalog
from cab_core.workspace.cell import CellWorkspace

seen, masked_on, written_on = [], [], []
real_start, real_mask = CellWorkspace.start_background, cellstate.mask_agent_files
from cab_core.results import CellWriter
real_write = CellWriter._write

def write_spy(self, name, text, **kw):
    written_on.append((name, threading.current_thread().name))
    return real_write(self, name, text, **kw)

CellWriter._write = write_spy

def start_spy(self):
    seen.append(([f.function for f in inspect.stack()[1:6]], time.monotonic() - quiet._since))
    real_start(self)

def mask_spy(state, writer):
    if state.agent_files is None:  # the call that does the work
        masked_on.append((threading.current_thread().name, state.verify is None))
    real_mask(state, writer)

CellWorkspace.start_background = start_spy
cellstate.mask_agent_files = mask_spy
import cab_core.runner
cab_core.runner.mask_agent_files = mask_spy
registry = Registry(get_plugin_manager())
runner = Runner(registry, TaskCatalog(registry))
opts = RunOptions(adapter="command", model="custom", task="polyglot/python-slugify", results=Path(sys.argv[1]),
                  options={"command": sys.argv[2]}, sweep_id="bg")
result, folder = runner.run_cell(opts)
frame = sys._current_frames().get(quiet._thread.ident) if quiet._thread is not None else None
print(json.dumps({"status": result.status, "exit_code": result.exit_code, "seen": seen, "masked_on": masked_on,
                  "written_on": written_on,
                  "delay": quiet.DELAY_S, "folder": str(folder), "files": result.files,
                  "loop": "".join(traceback.format_stack(frame)) if frame is not None else None}))
"""


def _isolated_cell(tmp_path, command: str) -> dict:
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _ISOLATED, str(tmp_path / "r"), command], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_cell_begins_its_background_work_once_its_tests_have_started(tmp_path):
    got = _isolated_cell(tmp_path, "true")
    assert got["status"] == "ok" and got["exit_code"] == 0
    # once the tests' process has run a moment (cab_core.sandbox.quiet), not beside its start
    seen = got["seen"]
    if not (len(seen) == 1 and "_loop" in seen[0][0] and seen[0][1] >= got["delay"]):
        pytest.fail(f"background work began {seen!r}; quiet's loop is at:\n{got['loop']}")


def test_the_agents_part_of_the_record_is_masked_and_written_beside_the_tests(tmp_path):
    got = _isolated_cell(tmp_path, "echo key: sk-s3cr3tvalue0123456789abcd")
    assert got["status"] == "ok"
    # masked once, on its own thread, while the tests ran (the verify step had not returned)
    assert got["masked_on"] == [["cab-agent-files", True]], got["loop"]
    # ... and written there, once: the record after the tests writes only the rest
    on = {}
    for name, thread in got["written_on"]:
        on.setdefault(name, []).append(thread)
    assert on["agent_output.txt"] == on["model_calls.jsonl"] == ["cab-agent-files"], got["written_on"]
    assert "cab-agent-files" not in on["test_output.txt"] + on["spans.jsonl"]
    output = (Path(got["folder"]) / "agent_output.txt").read_text()
    assert "s3cr3tvalue0123456789" not in output and "key: " in output
    assert got["files"]["agent_output"] == "agent_output.txt" and got["files"]["model_calls"] == "model_calls.jsonl"
    assert list(got["files"]) == ["terminal", "agent_output", "test_output", "diff", "spans", "model_calls"]


def _recorded(tmp_path, calls_then, calls_now, *, fail_beside=False):
    """A cell's record after its agent's part was written beside the tests with ``calls_then`` (or the
    write there failed) and the record sees ``calls_now``: (files, model_calls.jsonl lines)."""
    import datetime

    from cab_core import cellstate
    from cab_core.models import CellId, ModelCall, ProcessResult
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry
    from cab_core.results import CellWriter
    from cab_core.runner import RunOptions, cost_setup
    from cab_core.secrets import Redactor
    from cab_core.tasks import TaskCatalog
    from cab_core.tracing import Tracer

    def call(i):
        return ModelCall(index=i, timestamp=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
                         request_hash=f"h{i}", model="m", completion=f"answer {i}")

    registry = Registry(get_plugin_manager())
    task = TaskCatalog(registry).get("polyglot/python-slugify")
    opts = RunOptions(adapter="command", model="custom", task=task.id, results=tmp_path / "r")
    cell = CellId(sweep="s", adapter="command", model="custom", task=task.id, trial=1)
    writer = CellWriter(tmp_path / "r", cell.relpath, Redactor([]))
    state = cellstate.CellState(cell=cell, task=task, started=datetime.datetime.now(datetime.timezone.utc), t0=0.0)
    state.prices, state.guard = cost_setup(opts)
    state.launch = ProcessResult(exit_code=0, output="the agent's output")
    state.model_calls = [call(i) for i in range(calls_then)]
    if fail_beside:  # the disk refuses the write beside the tests (only that one)
        real = writer._write

        def refuse(name, text, *, keep=False):
            if keep:
                raise OSError(28, "No space left on device")
            return real(name, text, keep=keep)

        writer._write = refuse
        with pytest.raises(OSError):
            cellstate.write_agent_part(state, writer)
        assert state.agent_written is None and writer.staging.is_dir()  # nothing claimed, nothing discarded
    else:
        cellstate.write_agent_part(state, writer)
    state.model_calls = [call(i) for i in range(calls_now)]
    result = cellstate.record_cell(state, opts, Tracer(cell, registry, Redactor([])), writer)
    return result.files, writer.path("model_calls.jsonl").read_text().splitlines()


def test_the_record_writes_again_the_model_calls_changed_since_they_were_written_beside_the_tests(tmp_path):
    files, lines = _recorded(tmp_path / "same", 2, 2)
    assert len(lines) == 2 and files["model_calls"] == "model_calls.jsonl" and files["agent_output"] == "agent_output.txt"
    files, lines = _recorded(tmp_path / "more", 1, 3)  # a call cut off when the proxy stopped, recorded since
    assert len(lines) == 3 and '"answer 2"' in lines[2]


def test_a_write_beside_the_tests_that_fails_leaves_it_all_to_the_record(tmp_path):
    files, lines = _recorded(tmp_path, 2, 2, fail_beside=True)
    assert len(lines) == 2 and files["agent_output"] == "agent_output.txt"
