"""The first cell's one-time work warmed beside the sweep's start (issue 16: :mod:`cab_core.sweep.warmup`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cab_core.sweep import warmup
from cab_core.testing import default_task, write_task
from cab_core.workspace import template


@pytest.fixture
def counted_builds(monkeypatch):
    """Every template build, counted (the real build still runs)."""
    calls = []
    real = template._build

    def build(task, dest):
        calls.append(threading.current_thread().name)
        return real(task, dest)

    monkeypatch.setattr(template, "_build", build)
    return calls


def test_the_warmup_builds_the_template_the_cell_then_reuses(tmp_path, counted_builds):
    task = default_task(write_task(tmp_path / "tasks"))
    thread = warmup.start([task])
    thread.join(30)
    assert not thread.is_alive() and thread.daemon
    assert counted_builds == ["cab-warmup"]
    built = template.template(task)  # what the first cell asks for: already there, not built again
    assert counted_builds == ["cab-warmup"]
    assert (built / "calc.py").is_file() and (built / ".git").is_dir()


def test_a_cell_asking_while_the_warmup_builds_waits_for_that_build(tmp_path, counted_builds):
    task = default_task(write_task(tmp_path / "tasks"))
    thread = warmup.start([task])
    built = template.template(task)
    thread.join(30)
    assert len(counted_builds) == 1 and built.is_dir()


def test_a_warmup_that_fails_is_silent_and_leaves_the_error_to_the_cell(tmp_path, counted_builds):
    task = default_task(tmp_path / "nowhere")  # no workspace folder
    thread = warmup.start([task])
    thread.join(30)
    assert not thread.is_alive()
    with pytest.raises(Exception):
        template.template(task)
    assert warmup.start([]) is None


def test_a_sweep_builds_its_task_template_once_and_off_the_cells_thread(tmp_path, counted_builds, builtin_registry):
    from cab_core.sweep import build_spec, run_sweep
    from cab_core.tasks import TaskCatalog

    tasks = tmp_path / "tasks"
    write_task(tasks, "demo/add")
    catalog = TaskCatalog(builtin_registry, tasks_dirs=[tasks])
    spec = build_spec({}, {}, {"sweep_id": "w", "adapters": ["command"], "models": ["noop"], "tasks": ["demo/add"],
                               "trials": 2, "results": tmp_path / "results", "tasks_dirs": [tasks]})
    report = run_sweep(spec, builtin_registry, catalog)
    assert report.ran == 2 and report.infra_errors == 0
    assert counted_builds == ["cab-warmup"]


SETUP = Path(__file__).resolve().parents[1] / "scripts" / "setup.sh"


def test_setup_byte_compiles_every_module_of_cab_and_no_task_data():
    """PYTHONDONTWRITEBYTECODE (set on many CI machines) would have every ``cab`` compile what setup skipped."""
    match = re.search(r'compileall .*-x "([^"]+)"', SETUP.read_text())
    assert match, "scripts/setup.sh no longer byte-compiles with an exclusion pattern"
    skip = re.compile(match.group(1))
    root = SETUP.parents[1]
    code = [p for p in (root / "cab_core").rglob("*.py") if "templates" not in p.parts]
    assert any("workspace" in p.parts for p in code)
    assert [str(p) for p in code if skip.search(str(p.relative_to(root)))] == []
    data = [root / "tasks/cab_tasks/suite/polyglot/python-slugify/workspace/slugify.py",
            root / "tasks/cab_tasks/suite/polyglot/python-slugify/solution/slugify.py"]
    assert all(skip.search(str(p.relative_to(root))) for p in data)
    assert "examples/*/" in SETUP.read_text()


def test_preload_imports_what_the_first_cell_would_and_every_name_is_a_module():
    """A module renamed away would make the preload silently useless: every name must import."""
    code = ("import sys\nfrom cab_core.sweep import warmup\nwarmup.preload()\n"
            "print([m for m in warmup.CELL_MODULES if m not in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


_THREAD_IMPORTS = """
import importlib.abc, sys, threading
from pathlib import Path
import cab_core.cli.sweep, cab_core.sweep.run
from cab_core.sweep import warmup
from cab_core.testing import default_task, write_task
loaded = sorted(m for m in ("cab_core.runner", "cab_core.workspace.cell") if m in sys.modules)
seen = []
class Log(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        seen.append((threading.current_thread().name, name))
sys.meta_path.insert(0, Log())
warmup.start([default_task(write_task(Path(sys.argv[1])))]).join(60)
print("BEFORE:", loaded, "WARMUP:", sorted({n for t, n in seen if t == "cab-warmup"}))
"""


def test_the_warmup_starts_before_the_runner_is_imported_and_imports_nothing(tmp_path):
    """The template's git processes run beside the runner's imports; one thread importing at a time."""
    proc = subprocess.run([sys.executable, "-c", _THREAD_IMPORTS, str(tmp_path)], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip().splitlines()[-1] == "BEFORE: [] WARMUP: []"


_FROZEN_PROBE = """
import gc, json, sys
from pathlib import Path
import cab_core.sweep.executors as executors
seen = {}
real = executors.LocalExecutor.submit
def submit(self, opts):
    from cab_core.runner import Runner
    if "runner" not in seen:  # the runner class and its module's functions: built before the cells, kept all along
        seen["runner"] = not any(o is Runner for o in gc.get_objects())
    return real(self, opts)
executors.LocalExecutor.submit = submit
from cab_core.cli import main
sys.argv = ["cab", *sys.argv[1:]]
import atexit
atexit.register(lambda: print("FROZEN:" + json.dumps(seen)))
main()
"""


def test_the_runner_imported_after_plugins_is_out_of_the_collectors_sight_when_cells_start(tmp_path):
    """What the sweep imports when its executor opens lives as long as the sweep: frozen with the rest (issue 16)."""
    assert _probed_sweep(tmp_path, _FROZEN_PROBE, "FROZEN:") == {"runner": True}


def _probed_sweep(tmp_path: Path, probe: str, tag: str):
    """A one-cell ``cab sweep`` run by ``probe`` (a script that prints ``tag`` and JSON at exit): that JSON."""
    tasks = tmp_path / "tasks"
    write_task(tasks, "demo/add")
    proc = subprocess.run([sys.executable, "-c", probe, "sweep", "--adapters", "command", "--models", "noop",
                           "--tasks", "demo/add", "--tasks-dir", str(tasks), "--results", str(tmp_path / "r"),
                           "--sweep-id", "g", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.rsplit(tag, 1)[1])


def test_preload_builds_cattrs_functions_for_every_record_type_a_cell_holds():
    """cattrs makes a tuple's element functions on first use: the warm-up names them all, however deep."""
    from cab_core import models

    found = warmup._record_types(models.CellResult)
    assert found[0] is models.CellResult
    assert {models.CellId, models.AxisScore, models.Span, models.ModelCall, models.ToolCall} <= set(found)
    assert len(found) == len(set(found))


def test_the_record_functions_are_built_while_a_command_runs_not_beside_the_start(tmp_path, monkeypatch):
    """cattrs' functions are the warm-up's Python work: they wait for a command (the first cell's tests)."""
    import time

    from cab_core.sandbox import quiet

    built = []
    monkeypatch.setattr(warmup, "_record_types", lambda root: built.append(time.monotonic()) or [])
    task = default_task(write_task(tmp_path / "tasks"))
    thread = warmup.start([task])
    time.sleep(0.3)
    assert built == [] and thread.is_alive()  # the template is built, the functions wait
    begun = time.monotonic()
    with quiet.running():
        thread.join(5)
    assert not thread.is_alive() and len(built) == 1
    assert built[0] - begun >= quiet.DELAY_S * 0.9 and built[0] - begun < quiet.MAX_WAIT_S


_RELAY_PROBE = """
import json, sys, threading
import cab_core.sandbox.netrelay as netrelay
calls = []
real = netrelay.supported
def supported(bwrap):
    calls.append(threading.current_thread().name)
    return real(bwrap)
netrelay.supported = supported
from cab_core.cli import main
sys.argv = ["cab", *sys.argv[1:]]
import atexit
atexit.register(lambda: print("RELAY:" + json.dumps(calls)))
main()
"""


def test_the_relay_probe_is_made_beside_the_sweeps_start_not_by_the_first_cells_agent(tmp_path):
    """Whether the local sandbox can relay in bwrap's network namespace is a bwrap process, asked once per process."""
    from cab_core.sandbox.local import bwrap_path

    if not bwrap_path():
        pytest.skip("no bubblewrap here: the local sandbox asks no relay probe")
    calls = _probed_sweep(tmp_path, _RELAY_PROBE, "RELAY:")
    assert calls and calls[0] == "cab-warmup-relay", calls
