"""Faults: a misbehaving model endpoint, the harness killed mid-cell or mid-sweep, a full disk.

Endpoint faults come from the scripted server (``fail500``, ``ratelimit``, ``garbage``,
``drop``, ``hang``; see :mod:`cab_core.modelserver`) queued for the next request or
asked for as the model.  Each is recorded in the cell's model calls with its
``error_kind``, the cell is classified (an endpoint that never answered is an
infrastructure error; one that recovered is not), and the cell ends within its
timeout.
"""

from __future__ import annotations

import errno
import os
import shlex
import signal
import subprocess
import threading
import time

import pytest

from cab_core import serialization
from cab_core.modelserver import ScriptedModelServer
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.results import CELL_FILE, CellWriter, ResultsWriteError, atomic_write_text, iter_cell_dirs, read_cell, recover
from cab_core.runner import RunOptions, Runner
from cab_core.sandbox.local import bwrap_path
from cab_core.secrets import Redactor
from cab_core.tasks import TaskCatalog
from cab_core.testing import write_task

from conftest import CAB

# Every test here runs whole cells: part of the full suite, not the quick loop.
pytestmark = pytest.mark.slow

TASK = "demo/add"

#: A careful agent: streams when asked, retries 429 and 5xx after Retry-After, writes the answer's text.
RETRYING_AGENT = r"""
import json, os, sys, time, urllib.request, urllib.error
stream = os.environ.get("STREAM") == "1"
body = {"model": "scripted/oracle", "messages": [{"role": "user", "content": os.environ["CAB_PROMPT"]}], "stream": stream}
for attempt in range(4):
    req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            data = resp.read().decode()
        events = [l[6:] for l in data.splitlines() if l.startswith("data: ") and l != "data: [DONE]"] if stream else [data]
        for event in events:
            json.loads(event)  # a body that is not JSON is a failed call: try again
        if stream and "data: [DONE]" not in data:
            raise ValueError("stream cut before [DONE]")
        print("attempt", attempt, "ok", len(data))
        break
    except urllib.error.HTTPError as exc:
        wait = float(exc.headers.get("Retry-After") or 0.2)
        print("attempt", attempt, "HTTP", exc.code, "retry after", wait)
        time.sleep(wait)
    except Exception as exc:
        print("attempt", attempt, "failed:", type(exc).__name__, exc)
        time.sleep(0.2)
open("calc.py", "w").write("def add(a, b):\n    return a + b\n")
"""


@pytest.fixture
def tasks_dir(tmp_path):
    write_task(tmp_path / "tasks", TASK)
    return tmp_path / "tasks"


@pytest.fixture
def faulty(tasks_dir):
    """A runner whose scripted model server can be told to misbehave (``server.inject_faults``)."""
    server = ScriptedModelServer().start()
    registry = Registry(get_plugin_manager())
    runner = Runner(registry, TaskCatalog(registry, tasks_dirs=[tasks_dir]), model_server=server)
    yield runner, server
    runner.close()
    server.stop()


def run(runner, tmp_path, **kw):
    kw.setdefault("results", tmp_path / "results")
    kw.setdefault("task", TASK)
    kw.setdefault("timeout", 60)
    return runner.run_cell(RunOptions(**kw))


# --------------------------------------------------------------------------- the endpoint


@pytest.mark.parametrize("fault, kind", [("fail500", "server"), ("garbage", "bad_response"), ("drop", "connection"),
                                         ("ratelimit", "rate_limit")])
def test_an_endpoint_that_never_answers_properly_is_an_infra_error(faulty, tmp_path, fault, kind):
    runner, _ = faulty
    t0 = time.monotonic()
    result, folder = run(runner, tmp_path, adapter="mini", model=f"scripted/{fault}", timeout=30)
    assert time.monotonic() - t0 < 30
    assert result.status == "infra_error" and "model endpoint failed" in result.error and kind in result.error
    (call,) = result.model_calls
    assert call.error_kind == kind
    assert len((folder / "model_calls.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fault", ["ratelimit", "fail500", "drop", "garbage"])
def test_an_agent_that_retries_recovers_and_the_fault_is_recorded(faulty, tmp_path, fault, stream):
    runner, server = faulty
    server.inject_faults(fault)
    cmd = f"STREAM={int(stream)} python3 -c {shlex.quote(RETRYING_AGENT)}"
    t0 = time.monotonic()
    result, folder = run(runner, tmp_path, adapter="command", model="scripted/oracle", options={"command": cmd})
    out = (folder / "agent_output.txt").read_text()
    assert result.status == "ok", result.error  # one good answer: the endpoint did not fail the cell
    assert result.passed
    kinds = [c.error_kind for c in result.model_calls]
    expected = {"ratelimit": "rate_limit", "fail500": "server", "drop": "connection", "garbage": "bad_response"}[fault]
    assert kinds == [expected, None], kinds
    if fault == "ratelimit":
        assert "retry after 1.0" in out and time.monotonic() - t0 >= 1.0  # Retry-After reached the agent


def test_a_hanging_endpoint_ends_with_the_cell_timeout(faulty, tmp_path):
    runner, _ = faulty
    t0 = time.monotonic()
    result, _ = run(runner, tmp_path, adapter="mini", model="scripted/hang", timeout=4)
    elapsed = time.monotonic() - t0
    assert elapsed < 4 + 10, f"the cell took {elapsed:.1f} s with a 4 s timeout"
    assert result.timed_out
    assert result.status == "infra_error" and "timeout" in result.error
    (call,) = result.model_calls
    assert call.error_kind == "timeout"


def test_a_cassette_replaying_faults_replays_them(faulty, tmp_path):
    runner, server = faulty
    cassette = tmp_path / "faults.jsonl"
    server.inject_faults("ratelimit")
    cmd = f"python3 -c {shlex.quote(RETRYING_AGENT)}"
    first, _ = run(runner, tmp_path, adapter="command", model="scripted/oracle", options={"command": cmd}, record_cassette=cassette)
    again, _ = run(runner, tmp_path, adapter="command", model="scripted/oracle", options={"command": cmd}, replay_cassette=cassette,
                   sweep_id="replay")
    assert [c.error_kind for c in again.model_calls] == [c.error_kind for c in first.model_calls] == ["rate_limit", None]


# --------------------------------------------------------------------------- SIGKILL


def _cab(args, env=None, **kw):
    return subprocess.Popen([CAB, *map(str, args)], env={**os.environ, **(env or {})}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def _wait_for(predicate, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _pids_with(command_line: str) -> list[int]:
    """Processes whose whole command line is ``command_line`` (not the harness that mentions it)."""
    out = subprocess.run(["pgrep", "-f", f"^{command_line}$"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_sigterm_mid_cell_cleans_up_like_ctrl_c(tmp_path, tasks_dir, command):
    """A scheduler's SIGTERM: no staging, no sandbox, no scratch folder, no process left; exit 143."""
    results = tmp_path / "results"
    sleeper = f"sleep {os.getpid()}{int(time.time()) % 100000}{len(command)}"
    agent = f"{sleeper} & echo AGENT-UP; wait"
    args = (["run", "-a", "command", "-m", "custom", "-t", TASK] if command == "run" else
            ["sweep", "--adapters", "command", "--models", "custom", "--tasks", TASK, "--sweep-id", "t"])
    scratch = tmp_path / "tmp"  # the harness's own: what it leaves there is what this test judges
    scratch.mkdir()
    proc = _cab([*args, "--results", results, "-o", f"command={agent}"],
                env={"CAB_TASKS_PATH": str(tasks_dir), "TMPDIR": str(scratch)})
    try:
        assert _wait_for(lambda: _pids_with(sleeper)), "the agent never started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, proc.stdout.read()
    assert _wait_for(lambda: not _pids_with(sleeper), 10), "the agent outlived a terminated harness"
    assert not list(iter_cell_dirs(results))
    assert not [p for p in results.rglob("*") if ".staging-" in p.name]
    assert _wait_for(lambda: not list(scratch.iterdir()), 10), sorted(p.name for p in scratch.iterdir())


@pytest.mark.parametrize("isolation", ["bwrap", "none"])
def test_sigkill_mid_cell_leaves_the_previous_record_and_no_orphans(tmp_path, tasks_dir, isolation):
    if isolation == "bwrap" and not bwrap_path():
        pytest.skip("needs bubblewrap")
    env = {"CAB_TASKS_PATH": str(tasks_dir), **({"CAB_NO_BWRAP": "1"} if isolation == "none" else {})}
    results = tmp_path / "results"
    base = ["run", "-a", "command", "-m", "custom", "-t", TASK, "--results", results]
    fixed = "printf 'def add(a, b):\\n    return a + b\\n' > calc.py"
    first = subprocess.run([CAB, *map(str, base), "-o", f"command={fixed}"], env={**os.environ, **env}, capture_output=True)
    assert first.returncode == 0, first.stderr
    (folder,) = iter_cell_dirs(results)
    before = read_cell(folder)

    sleeper = f"sleep {os.getpid()}{int(time.time()) % 100000}"
    daemon = f"nohup setsid env -i {sleeper} >/dev/null 2>&1 </dev/null & sleep 0.3; echo AGENT-UP; sleep 120"
    proc = _cab([*base, "-o", f"command={daemon}"], env=env)
    try:
        assert _wait_for(lambda: _pids_with(sleeper)), "the agent never started"
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)  # the harness and everything in its process group
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    # The previous record is whole and still the only cell; the killed run's staging is not a cell.
    assert [read_cell(f).started_at for f in iter_cell_dirs(results)] == [before.started_at]
    assert any(".staging-" in p.name for p in folder.parent.iterdir())
    if isolation == "bwrap":
        assert _wait_for(lambda: not _pids_with(sleeper), 10), "the sandbox outlived the harness"
    # Resuming (running the cell again) reaps what the killed harness left and replaces the record once.
    again = subprocess.run([CAB, *map(str, base), "-o", f"command={fixed}"], env={**os.environ, **env}, capture_output=True)
    assert again.returncode == 0, again.stderr
    assert _wait_for(lambda: not _pids_with(sleeper), 10), "an orphan of the killed harness survived the next run"
    cells = [read_cell(f) for f in iter_cell_dirs(results)]
    assert len(cells) == 1 and cells[0].started_at > before.started_at and cells[0].passed
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def _published(root):
    """Published cells below ``root`` (a staging folder renamed mid-walk counts as not yet there)."""
    try:
        return len(list(iter_cell_dirs(root)))
    except FileNotFoundError:
        return 0


def _staging(root):
    try:
        return bool(list(root.rglob(".trial-*staging-*")))
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_every_record_whole_and_once(tmp_path, tasks_dir):
    results = tmp_path / "results"
    fixed = "printf 'def add(a, b):\\n    return a + b\\n' > calc.py; sleep 1"
    args = ["sweep", "--adapters", "command", "--models", "custom", "--tasks", TASK, "--trials", "6", "--jobs", "2",
            "--sweep-id", "k", "--results", results, "--tasks-dir", tasks_dir, "-o", f"command={fixed}"]
    proc = _cab(args)
    sweep = results / "k"
    try:
        assert _wait_for(lambda: _published(sweep) >= 2 and _staging(sweep), 120)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done = {read_cell(f).cell_id: read_cell(f).started_at for f in iter_cell_dirs(sweep)}
    assert 2 <= len(done) < 6
    res = subprocess.run([CAB, "sweep", "--resume", "--sweep-id", "k", "--results", str(results)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    cells = [read_cell(f) for f in iter_cell_dirs(sweep)]
    assert sorted(c.identity.trial for c in cells) == [1, 2, 3, 4, 5, 6]  # every trial, exactly once
    assert all(c.passed for c in cells)
    assert all(c.started_at == done[c.cell_id] for c in cells if c.cell_id in done)


# --------------------------------------------------------------------------- a full disk


def _record(tmp_path, runner_cell="first"):
    from cab_core.models import CellId, CellResult, utcnow

    cell = CellId(sweep="s", adapter="a", model="m", task="t/x", trial=1)
    return CellResult(cell_id=cell.cell_id, identity=cell, status="ok", started_at=utcnow(), ended_at=utcnow(),
                      duration_s=1.0, final_output=runner_cell), cell


def test_disk_full_while_writing_a_record_keeps_the_previous_one(tmp_path, monkeypatch):
    result, cell = _record(tmp_path, "first")
    CellWriter(tmp_path, cell.relpath, Redactor()).publish(result)
    import builtins

    real_open = builtins.open

    def full_open(path, mode="r", *a, **kw):
        fh = real_open(path, mode, *a, **kw)
        if "w" in mode and ".staging-" in str(path):
            def write(_data):
                raise OSError(errno.ENOSPC, "No space left on device")
            fh.write = write
        return fh

    writer = CellWriter(tmp_path, cell.relpath, Redactor())
    monkeypatch.setattr(builtins, "open", full_open)
    with pytest.raises(ResultsWriteError, match="No space left"):
        writer.write_text("agent_output.txt", "x" * 1000)
    with pytest.raises(ResultsWriteError):
        CellWriter(tmp_path, cell.relpath, Redactor()).publish(_record(tmp_path, "second")[0])
    monkeypatch.setattr(builtins, "open", real_open)
    (folder,) = iter_cell_dirs(tmp_path)
    assert read_cell(folder).final_output == "first"
    assert [p.name for p in folder.parent.iterdir()] == ["trial-1"]  # staging discarded


def test_disk_full_for_real_keeps_the_previous_record(tmp_path, tasks_dir):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        env = {**os.environ, "CAB_TASKS_PATH": str(tasks_dir)}
        base = [CAB, "run", "-a", "command", "-m", "custom", "-t", TASK, "--results", str(mnt)]
        first = subprocess.run(base + ["-o", "command=echo first"], env=env, capture_output=True, text=True)
        assert first.returncode == 0, first.stderr
        (folder,) = iter_cell_dirs(mnt)
        before = (folder / CELL_FILE).read_bytes()
        filler = mnt / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # until ENOSPC
        second = subprocess.run(base + ["-o", "command=seq 1 200000"], env=env, capture_output=True, text=True)
        assert second.returncode == 2, second.stderr
        assert second.stderr.startswith("Error: cannot write") and "No space left" in second.stderr
        assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1
        assert (folder / CELL_FILE).read_bytes() == before
        assert read_cell(folder).identity.task == TASK
        assert [p.name for p in folder.parent.iterdir()] == ["trial-1"]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_atomic_write_under_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "index.json"
    atomic_write_text(target, "old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        atomic_write_text(target, "new" * 1000)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["index.json"]


def test_republishing_is_atomic_for_a_reader(tmp_path):
    result, cell = _record(tmp_path, "v0")
    CellWriter(tmp_path, cell.relpath, Redactor()).publish(result)
    folder = tmp_path / cell.relpath
    stop, errors = threading.Event(), []

    def reader():
        while not stop.is_set():
            try:
                read_cell(folder)
            except Exception as exc:  # a reader must never see a missing or half-written cell
                errors.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            version = serialization.structure({**serialization.unstructure(result), "final_output": f"v{i + 1}"},
                                              type(result))
            CellWriter(tmp_path, cell.relpath, Redactor()).publish(version)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert read_cell(folder).final_output == "v40"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["trial-1"]


def test_a_publish_killed_between_its_renames_is_recovered(tmp_path):
    result, cell = _record(tmp_path, "previous")
    CellWriter(tmp_path, cell.relpath, Redactor()).publish(result)
    final = tmp_path / cell.relpath
    dead = 2**22 + 12345  # above any pid_max default: a harness that is gone
    os.replace(final, final.with_name(f".{final.name}.old-{dead}"))
    (final.parent / f".{final.name}.staging-{dead}-abc").mkdir()
    assert list(iter_cell_dirs(tmp_path)) == []
    assert recover(final) is True
    assert read_cell(final).final_output == "previous"
    assert sorted(p.name for p in final.parent.iterdir()) == ["trial-1"]


def test_cell_folders_cannot_escape_the_results_root(tmp_path, tasks_dir):
    from click.testing import CliRunner

    from cab_core.cli import make_cli

    for args in (["-m", "../../../../escape"], ["-m", "ok", "--sweep-id", "../out"], ["-m", "a//b"]):
        res = CliRunner().invoke(make_cli(), ["run", "-a", "command", "-t", TASK, "--tasks-dir", str(tasks_dir),
                                              "--results", str(tmp_path / "r"), *args])
        assert res.exit_code == 2, res.output
        assert res.stderr.startswith("Error: ") and "cannot name a cell folder" in res.stderr
    assert not (tmp_path / "escape").exists() and not (tmp_path / "out").exists()
