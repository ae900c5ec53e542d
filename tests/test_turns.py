"""Turns (cab_core.sweep.turns): cells prepare beside another cell's tests, but at most --jobs cells
run their commands (agent, tests) at once, and the time a cell waits for its turn is not its own."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from cab_core.results import iter_cell_dirs, read_cell
from cab_core.sandbox import procs
from cab_core.sweep.turns import NO_TURN, Turns
from cab_core.testing import write_task

from conftest import run_cab


def _cell(turns: Turns, log: list, name: str, *, agent_s=0.05, tests_s=0.1, fail_before_take=False):
    turn = turns.ticket()

    def run():
        try:
            turn.admitted()
            log.append(("start", name, time.monotonic()))
            if fail_before_take:
                return
            turn.take()
            log.append(("agent", name, time.monotonic()))
            time.sleep(agent_s)
            turn.testing()
            log.append(("tests", name, time.monotonic()))
            time.sleep(tests_s)
            log.append(("end", name, time.monotonic()))
        finally:
            turn.done()
            turn.recorded()

    return threading.Thread(target=run)


def test_one_slot_runs_one_cell_s_commands_at_a_time_and_the_next_starts_at_its_tests():
    turns, log = Turns(1), []
    threads = [_cell(turns, log, n) for n in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    order = [(what, name) for what, name, _ in sorted(log, key=lambda e: e[2])]
    # commands strictly one cell after another, in submission order
    commands = [e for e in order if e[0] in ("agent", "end")]
    assert commands == [("agent", "a"), ("end", "a"), ("agent", "b"), ("end", "b"), ("agent", "c"), ("end", "c")]
    # each next cell starts only once the one before it runs its tests (and before those end)
    for before, after in zip("ab", "bc"):
        assert order.index(("tests", before)) < order.index(("start", after)) < order.index(("end", before))


def test_two_slots_never_hold_more_than_two_cells_commands():
    turns, log = Turns(2), []
    threads = [_cell(turns, log, str(i), agent_s=0.02, tests_s=0.05) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    running = peak = 0
    for what, _, _ in sorted(log, key=lambda e: e[2]):
        running += {"agent": 1, "end": -1}.get(what, 0)
        peak = max(peak, running)
    assert peak == 2 and running == 0
    assert sum(1 for e in log if e[0] == "end") == 6


def test_a_cell_that_fails_before_its_turn_holds_nobody_back():
    turns, log = Turns(1), []
    threads = [_cell(turns, log, "a", fail_before_take=True), _cell(turns, log, "b"), _cell(turns, log, "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [name for what, name, _ in log if what == "end"] == ["b", "c"]


def test_closed_turns_wake_the_cells_waiting_and_they_keep_no_place():
    turns = Turns(1)
    first = turns.ticket()
    first.admitted()
    first.take()  # holds the only slot, never gives it back
    second, raised = turns.ticket(), []

    def wait():
        try:
            second.admitted()
        except KeyboardInterrupt:
            raised.append(True)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.1)
    assert t.is_alive()  # waiting for the first cell's tests
    turns.close()
    t.join(5)
    assert raised == [True]


def test_waits_give_up_when_the_harness_is_stopping():
    turns = Turns(1)
    first = turns.ticket()
    first.admitted()
    first.take()
    second = turns.ticket()
    procs.STOPPING.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            second.admitted()
    finally:
        procs.STOPPING.clear()


def test_a_cell_run_on_its_own_never_waits():
    assert NO_TURN.take() == 0.0 and NO_TURN.settle() == 0.0
    NO_TURN.admitted(), NO_TURN.testing(), NO_TURN.done(), NO_TURN.recorded()


# ---------------------------------------------------------------- through a real sweep
STAMP = re.compile(r"(AGENT|TESTS)_(START|END) (\d+\.\d+)")


@pytest.fixture
def sandbox(request):
    if request.param == "docker":
        from cab_core import images

        from test_docker import _need, _need_image

        reason = images.unavailable_reason()
        if reason:
            _need(reason)
        client = images.client()
        try:
            _need_image(client, images.DEFAULT_IMAGE)
        finally:
            client.close()
    return request.param


@pytest.mark.slow
@pytest.mark.parametrize("jobs,trials,sandbox", [(1, 4, "local"), (2, 6, "local"), (1, 3, "docker")],
                         indirect=["sandbox"])
def test_a_sweep_overlaps_cells_but_never_more_than_jobs_commands(tmp_path: Path, jobs: int, trials: int,
                                                                  sandbox: str):
    """The commands stamp their own start and end: at most ``jobs`` of them run at once, while the
    cells themselves overlap (one prepares beside another's tests); each cell's duration leaves out
    the time it waited for its turn (its ``queue`` spans)."""
    tests = ("bash -c 'echo TESTS_START $EPOCHREALTIME; sleep 0.4; python -m pytest -q -p no:cacheprovider; "
             "rc=$?; echo TESTS_END $EPOCHREALTIME; exit $rc'")
    folder = write_task(tmp_path / "tasks", "demo/add")
    manifest = folder / "task.toml"
    manifest.write_text(re.sub(r"(?m)^test_command = .*$", lambda _: "test_command = " + json.dumps(tests),
                               manifest.read_text()))
    agent = ("exec bash -c 'echo \"AGENT_START $EPOCHREALTIME\"; sleep 0.1; sed -i s/a\\ -\\ b/a\\ +\\ b/ calc.py; "
             "echo \"AGENT_END $EPOCHREALTIME\"'")
    res = run_cab("sweep", "--adapters", "command", "--models", "custom", "--tasks", "demo/add", "--tasks-dir",
                  tmp_path / "tasks", "--trials", str(trials), "--jobs", str(jobs), "--results", tmp_path / "results",
                  "--sweep-id", "t", "--sandbox", sandbox, "-o", f"command={agent}", timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    intervals, cells = [], []
    for folder in iter_cell_dirs(tmp_path / "results" / "t"):
        cell = read_cell(folder)
        assert cell.passed, folder
        text = (folder / "agent_output.txt").read_text() + (folder / "test_output.txt").read_text()
        stamps = {f"{a}_{b}": float(t) for a, b, t in STAMP.findall(text)}
        intervals += [(stamps["AGENT_START"], stamps["AGENT_END"]), (stamps["TESTS_START"], stamps["TESTS_END"])]
        cells.append(cell)
    assert len(cells) == trials
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak <= jobs
    spans = sorted((c.started_at.timestamp(), c.ended_at.timestamp()) for c in cells)
    overlapping = sum(1 for (_, end), (start, _) in zip(spans, spans[jobs:]) if start < end)
    assert overlapping >= 1  # a later cell started before an earlier one ended: they were pipelined
    queued = 0.0
    for cell in cells:
        waits = [s for s in cell.spans if s.kind == "queue"]
        assert [s.name for s in waits] == ["turn", "settle"]
        waited = sum(s.duration_ms for s in waits) / 1000
        queued += waited
        wall = cell.ended_at.timestamp() - cell.started_at.timestamp()
        assert cell.duration_s <= wall - waited + 0.05  # the waits are not the cell's time ...
        assert cell.scores["latency"].breakdown["wall_clock_ms"] <= cell.duration_s * 1000  # ... nor its axis's
    assert queued > 0.2  # cells did wait for their turn
