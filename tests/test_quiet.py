"""Harness work that can wait runs while a command runs, never later than its bound (issue 16)."""

from __future__ import annotations

import threading
import time

from cab_core.sandbox import quiet
from cab_core.sandbox.piped import run_piped


def _handed(tag: str = "t") -> threading.Event:
    done = threading.Event()
    quiet.later(done.set, tag=tag)
    return done


def test_work_waits_for_a_command_that_has_run_a_while(monkeypatch):
    monkeypatch.setattr(quiet, "MAX_WAIT_S", 5.0)
    monkeypatch.setattr(quiet, "DELAY_S", 0.05)
    done = _handed()
    assert not done.wait(0.2)  # no command runs: it waits
    with quiet.running():
        time.sleep(0.01)  # a command shorter than the delay: still waiting
    assert not done.wait(0.2)
    with quiet.running():
        assert done.wait(2)  # one that runs on: let go
    quiet.flush("t")


def test_work_is_done_within_its_bound_without_any_command(monkeypatch):
    monkeypatch.setattr(quiet, "MAX_WAIT_S", 0.2)
    t0 = time.monotonic()
    done = _handed()
    assert done.wait(3) and time.monotonic() - t0 >= 0.15


def test_flush_runs_only_its_own_tag_now(monkeypatch):
    monkeypatch.setattr(quiet, "MAX_WAIT_S", 30.0)
    mine, other = _handed("mine"), _handed("other")
    quiet.flush("mine")
    assert mine.is_set() and not other.is_set()
    quiet.flush("other")
    assert other.is_set()


def test_a_real_command_counts_while_it_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(quiet, "MAX_WAIT_S", 30.0)
    monkeypatch.setattr(quiet, "DELAY_S", 0.05)
    done = _handed()
    r = run_piped(["/bin/sh", "-c", "sleep 0.5; echo ok"], env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=10)
    assert r.exit_code == 0 and done.is_set()
    assert quiet._running == 0  # counted out again when it ended


def test_a_job_counts_as_background_work_from_its_start_to_its_end():
    import threading

    release = threading.Event()
    job = quiet.Job(release.wait, 5, name="t")
    job.start()
    assert not quiet.idle(0.05)  # running: not idle
    release.set()
    job.join(5)
    assert quiet.idle(1)


def test_a_handed_over_call_that_fails_drops_nothing_else_and_the_loop_goes_on(monkeypatch):
    monkeypatch.setattr(quiet, "MAX_WAIT_S", 0.05)

    def stops():
        raise KeyboardInterrupt  # (a wait that gives up as the harness stops raises it)

    def fails():
        raise OSError("gone")

    quiet.later(stops, tag="t")
    quiet.later(fails, tag="t")
    after = _handed()  # in the same batch, after both
    assert after.wait(3)
    loop = quiet._thread
    assert _handed().wait(3) and quiet._thread is loop and loop.is_alive()  # the same loop serves the next
