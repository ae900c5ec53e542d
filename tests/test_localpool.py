"""The next cell's local sandboxes, built while a cell verifies (issue 16, :mod:`cab_core.sandbox.localpool`).

A sandbox built ahead must be indistinguishable, to the agent, from one built for it:
the same folders, environment, mounts, descriptors and way to the model; one built
for another shape of cell is never used; nothing of it stalls the harness; nothing of
the cell that built it reaches it.  The cells go through the real runner (``cab sweep``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from cab_core.results import iter_cell_dirs, read_cell
from cab_core.sandbox import localpool, parked
from cab_core.sandbox.local import LocalSession, bwrap_path
from cab_core.sandbox.piped import run_piped

pytestmark = pytest.mark.skipif(not bwrap_path(), reason="sandboxes built ahead are bubblewrap ones")

# What the agent sees: its folder, environment, /run, descriptors, mount points, HOME and /tmp; and one
# model call through its relay (recorded by the proxy).
PROBE = ("pwd; env | sort | grep -v -e CAB_CELL_MARKER -e CAB_DEADLINE; ls /run; ls /proc/self/fd; "
         "cut -d' ' -f5 /proc/self/mountinfo; ls -A $HOME /tmp; id -u; "
         "curl -s -o /dev/null -w 'model %{http_code}\\n' -H 'content-type: application/json' "
         "-d '{\"model\":\"scripted/noop\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' $OPENAI_BASE_URL/chat/completions")


def _normalised(text: str) -> str:
    text = re.sub(r"(/tmp/)?cab-cell-[A-Za-z0-9_]+", "CELL", text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


def _sweep(cab, tmp_path, command, trials=3, tasks="polyglot/python-slugify", sweep_id="lp"):
    results = tmp_path / "results"
    res = cab("sweep", "--adapters", "command", "--models", "scripted/noop", "-o", f"command={command}", "--tasks", tasks,
              "--trials", str(trials), "--jobs", "1", "--results", results, "--sweep-id", sweep_id)
    assert res.returncode in (0, 1), res.stderr[-3000:]
    return sorted(((read_cell(f), f) for f in iter_cell_dirs(results / sweep_id)), key=lambda cf: cf[0].started_at)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _built_ahead(cell) -> int:
    return next(s.attrs.get("built_ahead", 0) for s in cell.spans if s.kind == "cleanup")


@pytest.mark.slow  # a sweep of real cells
def test_the_next_cells_sandboxes_are_built_ahead_and_show_the_agent_exactly_a_fresh_ones_view(cab, tmp_path):
    cells = _sweep(cab, tmp_path, PROBE)
    assert [_built_ahead(c) for c, _ in cells] == [1, 2, 2]  # the verify step's always; the agent's from the 2nd cell on
    outputs = [_normalised((folder / "agent_output.txt").read_text()) for _, folder in cells]
    assert "model " in outputs[0] and "CELL/work" in outputs[0]
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]  # fresh and built ahead: the very same view
    assert [len((folder / "model_calls.jsonl").read_text().splitlines()) for _, folder in cells] == [1, 1, 1]
    assert len({c.scores["pass_rate"].value for c, _ in cells}) == 1  # the same verdict
    assert localpool.prepared_roots() == []  # the last cell's slot is gone with the sweep
    roots = {Path(c.spans[0].attrs["workdir"]).parent for c, _ in cells}
    assert len(roots) == 3 and not any(root.exists() for root in roots)


@pytest.mark.slow  # a sweep of real cells
def test_a_cell_of_another_shape_builds_its_own(cab, tmp_path):
    # two tasks alternate: a slot made for one task's shape serves the other only if its sandbox is the same
    cells = _sweep(cab, tmp_path, "pwd; ls /run", trials=2, tasks="polyglot/python-slugify,polyglot/python-csv-line")
    assert all(c.status == "ok" for c, _ in cells)
    for cell, folder in cells:  # the agent always ran in its own cell's folder
        assert (folder / "agent_output.txt").read_text().startswith(cell.spans[0].attrs["workdir"])


@pytest.mark.slow  # a sweep of real cells
def test_the_cell_that_built_a_slot_cannot_reach_it(cab, tmp_path):
    # The agent runs again in the verify step (its code is tested): there, look for the next cell's root,
    # the waiting sandboxes' FIFOs and processes: it sees its own root and processes only.
    hunt = ("echo roots $(ls -d /tmp/cab-*); "
            "echo seen $(cat /proc/[0-9]*/cmdline | tr '\\0' '\\n' | grep -o 'cab-[a-z]*-[a-z0-9_]*' | sort -u)")
    code = f"import subprocess; raise RuntimeError(subprocess.run({hunt!r}, shell=True, capture_output=True, text=True).stdout)"
    cells = _sweep(cab, tmp_path, f"printf '%s\\n' {_quoted(code)} >> slugify.py", trials=2)
    second = (cells[1][1] / "test_output.txt").read_text()
    assert _built_ahead(cells[1][0]) == 2
    own = Path(cells[1][0].spans[0].attrs["workdir"]).parent
    assert f"roots {own}\n" in second  # its own cell root only
    assert f"seen {own.name}\n" in second  # no process of another cell, no other sandbox's FIFO


def test_a_launcher_made_for_a_short_lived_thread_outlives_it(tmp_path):
    # bwrap --die-with-parent dies with the *thread* that started its process: launchers come from the
    # pool's long-lived spawner, so a sandbox built by a thread that ends is still there for its command.
    work = tmp_path / "work"
    work.mkdir()
    session = LocalSession()
    box = {}

    def build():
        launcher = session._launcher(False, False)
        full = session._wrap(["/bin/sh", "-c", "sleep 0.5; echo alive"], work, [work], {"PATH": "/usr/bin:/bin"},
                             False)
        box["ok"] = launcher.go(full, env={"PATH": "/usr/bin:/bin"}, cwd=work)
        box["launcher"] = launcher

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()  # the thread is gone before the command has ended
    launcher = box["launcher"]
    result = run_piped([], env={}, cwd=work, timeout=20, spawned=(launcher.child, launcher.fd))
    launcher.cgroup.close()
    session.close()
    assert box["ok"] and result.exit_code == 0 and "alive" in result.output


def test_output_held_open_by_a_process_left_behind_does_not_stall_the_harness(tmp_path):
    # not in a sandbox (nothing kills what the command left): its leftover holds the pipe, yet the
    # command is over when its own process is
    t0 = time.monotonic()
    result = run_piped(["/bin/sh", "-c", "sleep 30 & echo done"], env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path,
                       timeout=60)
    assert time.monotonic() - t0 < 5 and result.exit_code == 0 and "done" in result.output
    parked.POOL.close()


def test_slots_are_made_only_in_a_sweep(tmp_path, cab):
    res = cab("run", "--adapter", "command", "--model", "custom", "-o", "command=true", "--task", "polyglot/python-slugify",
              "--results", tmp_path / "r", "--json")
    assert res.returncode in (0, 1), res.stderr[-2000:]
    assert not localpool.enabled() and localpool.prepared_roots() == []
    assert json.loads(res.stdout)


def test_a_sweep_makes_no_slot_after_its_last_cell(tmp_path):
    made = []

    class _Sandbox:
        def begin(self):
            pass

        def discard(self):
            pass

    def builder(old: str, new: str):
        made.append(new)
        return str(Path(new) / "work"), _Sandbox()

    old_root = tmp_path / "cab-cell-old"
    old_root.mkdir()
    with localpool.ahead(3):  # three cells: the second and third may use a slot, nothing after the third
        for _ in range(3):
            localpool.prepare([builder], old_root)
        deadline = time.monotonic() + 10
        while len(localpool.prepared_roots()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(made) == 2 and len(localpool.prepared_roots()) == 2
    assert localpool.prepared_roots() == []
