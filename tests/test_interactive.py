"""Interactive mode keeps the agent's final answer the moment the TUI shows it, not only after quitting.

A stand-in TUI (a shell loop) answers, then ignores every way of quitting until the cell's
timeout kills it: the answer must still be the cell's final output, and the recording
carries an asciicast marker at the moment it was given.  The real agents' drivers (pi,
aider) are exercised in ``tests/test_agents.py``.
"""

from __future__ import annotations

import json
import time

import pytest

from cab_core import Adapter, LaunchSpec, hookimpl
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.sandbox.pty import ANSWER_MARKER, run_in_pty
from cab_core.tasks import TaskCatalog

#: Prints a prompt, reads the task, answers, then traps every signal a quit would send and hangs.
STUBBORN = ("trap '' INT TERM HUP; printf 'ready> '; read task; printf 'thinking...\\r\\n'; sleep 0.3; "
            "printf 'ANSWER: fixed %s\\r\\n' \"$task\"; printf 'ready> '; while :; do read x || sleep 1; done")


def drive(child, cast) -> None:
    """A driver in the shape of pi's and aider's: wait for the prompt, type, wait for the answer, quit."""
    from cab_adapters import _agents

    recorder = _agents.CastRecorder(cast)
    child.logfile_read = recorder
    try:
        _agents.wait_for(child, lambda: "ready>" in recorder.text(), deadline=time.monotonic() + 10)
        _agents.type_text(child, cast, "the-bug\r")
        if _agents.read_until_quiet(child, quiet=0.3, deadline=time.monotonic() + 10,
                                    until=lambda: recorder.text().count("ready>") >= 2):
            answer = recorder.text().split("ANSWER: ", 1)[-1].split("\n", 1)[0].strip()
            _agents.give_answer(cast, "ANSWER: " + answer)
        _agents.quit_tui(child, cast, "/quit", grace=0.5)
    finally:
        child.logfile_read = None


@pytest.mark.slow
def test_answer_is_kept_though_the_tui_never_quits(tmp_path):
    cast = tmp_path / "t.cast"
    result = run_in_pty(["/bin/sh", "-c", STUBBORN], env={"PATH": "/usr/bin:/bin", "TERM": "xterm"}, cwd=tmp_path,
                        timeout=8, cast_path=cast, stdin_devnull=False, interact=drive)
    assert result.timed_out and result.answer == "ANSWER: fixed the-bug"
    events = [json.loads(line) for line in cast.read_text().splitlines()[1:]]
    marks = [i for i, e in enumerate(events) if e[1] == "m"]
    assert [events[i][2] for i in marks] == [ANSWER_MARKER]
    quit_at = next(i for i, e in enumerate(events) if e[1] == "i" and "/quit" in e[2])
    assert marks[0] < quit_at  # given before the driver tried to quit


def test_no_answer_seen_leaves_it_unset(tmp_path):
    result = run_in_pty(["/bin/sh", "-c", "printf 'bye\\n'"], env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path,
                        timeout=5, cast_path=tmp_path / "t.cast")
    assert result.answer is None and "bye" in result.output


class Stubborn:
    @hookimpl
    def cab_adapters(self):
        return [Adapter(name="stubborn", build_launch=lambda ctx: LaunchSpec(argv=["/bin/sh", "-c", STUBBORN]),
                        interactive=lambda child, cast, ctx: drive(child, cast))]


@pytest.mark.slow
def test_cell_of_a_tui_killed_at_its_timeout_keeps_the_answer(tmp_path, make_task):
    make_task("demo/add")
    registry = Registry(get_plugin_manager(plugins=[Stubborn()]))
    runner = Runner(registry, TaskCatalog(registry, tasks_dirs=[tmp_path / "tasks"]))
    try:
        result, folder = runner.run_cell(RunOptions(adapter="stubborn", model="scripted/noop", task="demo/add",
                                                    mode="interactive", timeout=8, results=tmp_path / "results"))
    finally:
        runner.close()
    assert result.timed_out and result.final_output == "ANSWER: fixed the-bug", result.error
