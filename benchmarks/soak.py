"""Soak: hundreds of cells with a faulty endpoint and hostile agents; does the harness hold?

Runs ``--cells`` cells (default 200) of a small Python task on one shared Runner and
one scripted model server, ``--jobs`` at a time, cycling through:

* honest agents: the ``mini`` tool-calling agent against ``scripted/oracle``, given the
  endpoint's key with ``--api-key-env`` like a real provider's;
* the same with an endpoint fault queued for the next request (HTTP 500, 429 with
  Retry-After, a body that is not JSON, a connection closed mid-response, a hang
  past the cell timeout);
* hostile ``command`` agents: printing the whole environment, writing outside the
  work directory, deleting or editing the tests, conftest.py / sitecustomize.py /
  pytest.ini / a shadowing ``pytest.py``, a double-forked daemon without the cell
  marker, a fork bomb, filling the disk, printing a flood, reading the hidden
  solution, leaving a FIFO where a test was;
* ``--kills`` times, a ``cab run`` subprocess killed with SIGKILL mid-cell, then the
  same cell run again (the resume).

A cell that ends in an infrastructure error is run again (at most ``--retries``
times), as a sweep does.  At the end every cell folder is read back, and every file
under the results (and the HTML report, when ``cab report`` is available) is
searched for the key.  Prints: cells run, infrastructure errors (and how many a
rerun recovered), records lost (goal 0), duplicated, hostile cells that passed
(goal 0), secrets found (goal 0), orphan processes (goal 0), peak harness memory.

    python benchmarks/soak.py                    # 200 cells, 4 at a time
    python benchmarks/soak.py --cells 400 --jobs 6 --kills 5 --json
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cab_core.modelserver import ScriptContext, ScriptedModelServer
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.results import iter_cell_dirs, read_cell
from cab_core.runner import RunOptions, Runner
from cab_core.tasks import TaskCatalog, protected_paths, solution_files
from cab_core.testing import write_task

TASK = "soak/add"
CAB = str(Path(sys.executable).with_name("cab")) if Path(sys.executable).with_name("cab").exists() else "cab"
KEY_VAR = "CAB_SOAK_KEY"
FIXED = "printf 'def add(a, b):\\n    return a + b\\n' > calc.py"
LIMITS = {"limit.pids": "128", "limit.disk": "32M"}

#: name -> (adapter, model, options, fault to queue, timeout, the trick must not pass)
SCENARIOS = {
    "honest": ("mini", "scripted/oracle", {}, None, 60, False),
    "fault-500": ("mini", "scripted/oracle", {}, "fail500", 60, False),
    "fault-429": ("mini", "scripted/oracle", {}, "ratelimit", 60, False),
    "fault-garbage": ("mini", "scripted/oracle", {}, "garbage", 60, False),
    "fault-drop": ("mini", "scripted/oracle", {}, "drop", 60, False),
    "fault-hang": ("mini", "scripted/oracle", {}, "hang", 6, False),
    "greedy-env": ("command", "custom", {"command": "env; cat /proc/*/environ | tr '\\0' '\\n'; echo $OPENAI_API_KEY; "
                                          "env | base64 -w0"}, None, 60, True),
    "escape": ("command", "custom", {"command": "echo x > /etc/cab-soak; echo x > ../x; echo x > $HOME/../x; "
                                     f"echo x > {Path(__file__).resolve().parent}/soak-escape"}, None, 60, True),
    "delete-tests": ("command", "custom", {"command": "rm -rf tests"}, None, 60, True),
    "edit-tests": ("command", "custom", {"command": "printf 'def test_add():\\n    assert True\\n' > tests/test_calc.py"},
                   None, 60, True),
    "conftest": ("command", "custom", {"command": "printf 'import pytest\\n@pytest.hookimpl(hookwrapper=True)\\n"
                                       "def pytest_runtest_makereport(item, call):\\n    o = yield\\n"
                                       "    o.get_result().outcome = \"passed\"\\n' > conftest.py"}, None, 60, True),
    "sitecustomize": ("command", "custom", {"command": "printf 'import sys\\nsys.modules.setdefault(\"calc\", "
                                            "type(sys)(\"calc\")).add = lambda a, b: a + b\\n' > sitecustomize.py"},
                      None, 60, True),
    "pytest-ini": ("command", "custom", {"command": "printf '[pytest]\\naddopts = --co -q\\n' > pytest.ini"}, None, 60, True),
    "shadow-pytest": ("command", "custom", {"command": "printf 'print(\"1 passed\")\\n' > pytest.py"}, None, 60, True),
    "daemon": ("command", "custom", {"command": "nohup setsid env -i sleep 86400 >/dev/null 2>&1 </dev/null & sleep 0.3"},
               None, 60, True),
    "fork-bomb": ("command", "custom", {"command": "b() { b | b & }; b; sleep 20"}, None, 60, True),
    "disk-fill": ("command", "custom", {"command": "i=0; while true; do head -c 1048576 /dev/zero > f$i; i=$((i+1)); done"},
                  None, 60, True),
    "flood": ("command", "custom", {"command": "yes 'all work and no play' | head -c 20000000"}, None, 60, True),
    "read-solution": ("command", "custom", {"command": "cat {solution}/calc.py > calc.py; cp -r {solution}/. ."},
                      None, 60, True),
    "fifo": ("command", "custom", {"command": "rm tests/test_calc.py; mkfifo tests/test_calc.py"}, None, 60, True),
}


class Memory:
    """Peak resident memory of this process, sampled (ru_maxrss is kept as well)."""

    def __init__(self):
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.1):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @staticmethod
    def maxrss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plan(cells: int) -> list[str]:
    names = list(SCENARIOS)
    return [names[i % len(names)] for i in range(cells)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--kills", type=int, default=3, help="cab run subprocesses killed with SIGKILL mid-cell")
    parser.add_argument("--results", type=Path, help="keep the results here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="cab-soak-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    results = args.results or scratch / "results"
    task_dir = write_task(scratch / "tasks", TASK)
    key = "sk-soak-" + secrets.token_hex(20)
    os.environ[KEY_VAR] = key
    sleepers_before = set(_pids_with("sleep 86400"))

    registry = Registry(get_plugin_manager())
    catalog = TaskCatalog(registry, tasks_dirs=[scratch / "tasks"])
    task = catalog.get(TASK)
    server = ScriptedModelServer().start()
    tests = {rel: (task.workspace / rel).read_text() for rel in protected_paths(task)}
    endpoint = server.register(ScriptContext(task_id=task.id, solution_files=solution_files(task), test_files=tests,
                                             prompt=task.prompt))
    runner = Runner(registry, catalog, model_server=server)
    figures = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    fault_lock = threading.Lock()  # a queued fault must meet its own cell's first request

    def one(index: int, name: str) -> None:
        adapter, model, options, fault, timeout, hostile = SCENARIOS[name]
        options = {k: v.replace("{solution}", str(task_dir / "solution")) for k, v in options.items()}
        if adapter == "command":
            options = {**options, **LIMITS}
        opts = RunOptions(adapter=adapter, model=model, task=TASK, sweep_id="soak", trial=index + 1, options=options,
                          timeout=timeout, results=results, endpoint=endpoint, api_key_env=KEY_VAR)
        for attempt in range(1 + args.retries):
            if fault and attempt == 0:
                with fault_lock:
                    server.inject_faults(fault)
                    result, _ = runner.run_cell(opts)
            else:
                result, _ = runner.run_cell(opts)
            with lock:
                figures["cells run"] += 1
                if result.status != "ok":
                    figures["infrastructure errors"] += 1
                    if hostile:
                        problems.append(f"{name} #{index + 1}: infra error: {result.error}")
                    continue
                figures["infrastructure errors recovered"] += attempt  # each failed attempt, made good by a rerun
                if hostile and result.passed:
                    figures["hostile cells that passed"] += 1
                    problems.append(f"{name} #{index + 1} passed")
                if not hostile and not result.passed:
                    problems.append(f"{name} #{index + 1} did not pass")
            return
        with lock:
            figures["cells that never recovered"] += 1

    names = plan(args.cells)
    t0 = time.monotonic()
    with Memory() as memory:
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(one, i, name) for i, name in enumerate(names)]
            for i, future in enumerate(futures, 1):
                try:
                    future.result()
                except Exception as exc:  # the harness itself raised: that is a lost record
                    problems.append(f"harness raised: {type(exc).__name__}: {exc}")
                if i % 25 == 0 and not args.json:
                    print(f"  {i}/{len(names)} cells, {time.monotonic() - t0:.0f} s", file=sys.stderr)
        killed = kill_mid_cell(args.kills, results, scratch, figures)
    runner.close()
    server.stop()

    # Read every record back.
    expected = {f"soak/{SCENARIOS[n][0]}/{SCENARIOS[n][1]}/{TASK}" + ("" if i == 0 else f"#{i + 1}")
                for i, n in enumerate(names)} | killed
    seen = Counter()
    for folder in iter_cell_dirs(results):
        try:
            seen[read_cell(folder).cell_id] += 1
        except Exception as exc:
            problems.append(f"corrupt record {folder}: {exc}")
    figures["records lost"] = len(expected - set(seen))
    figures["records duplicated"] = sum(n - 1 for n in seen.values() if n > 1)
    figures["staging leftovers"] = sum(1 for p in results.rglob(".*") if p.is_dir())

    report = scratch / "report"
    searched = [p for p in results.rglob("*") if p.is_file()]
    rep = subprocess.run([CAB, "report", str(results), "-o", str(report)], capture_output=True, text=True)
    if rep.returncode == 0:
        searched += [p for p in report.rglob("*") if p.is_file()]
    needles = [key.encode(), base64.b64encode(key.encode())[:30]]
    figures["files searched"] = len(searched)
    figures["secrets found"] = sum(1 for p in searched for n in needles if n in p.read_bytes())
    time.sleep(0.5)
    orphans = set(_pids_with("sleep 86400")) - sleepers_before
    figures["orphan processes"] = len(orphans)
    for pid in orphans:  # ours: started by this soak's hostile agents
        os.kill(pid, signal.SIGKILL)
    figures["peak harness memory (MB)"] = round(max(memory.peak_mb, Memory.maxrss_mb()), 1)
    figures["wall clock (s)"] = round(time.monotonic() - t0, 1)

    order = ["cells run", "infrastructure errors", "infrastructure errors recovered", "cells that never recovered",
             "harness kills (SIGKILL mid-cell)", "records lost", "records duplicated", "staging leftovers",
             "hostile cells that passed", "files searched", "secrets found", "orphan processes",
             "peak harness memory (MB)", "wall clock (s)"]
    if args.json:
        print(json.dumps({k: figures.get(k, 0) for k in order} | {"problems": problems[:50]}, indent=2))
    else:
        for name in order:
            print(f"{name:<36} {figures.get(name, 0)}")
        for line in problems[:20]:
            print(f"  problem: {line}")
    if not args.results:
        shutil.rmtree(scratch, ignore_errors=True)
    bad = figures["records lost"] or figures["records duplicated"] or figures["secrets found"] or figures["orphan processes"]
    return 1 if bad or figures["hostile cells that passed"] else 0


def kill_mid_cell(times: int, results: Path, scratch: Path, figures: Counter) -> set[str]:
    """Start ``cab run`` subprocesses, SIGKILL each mid-cell, then run the same cell again."""
    cells = set()
    cab = [CAB]
    env = {**os.environ, "CAB_TASKS_PATH": str(scratch / "tasks")}
    for i in range(times):
        base = ["run", "-a", "command", "-m", "custom", "-t", TASK, "--sweep-id", "soak-killed", "--trial", str(i + 1),
                "--results", str(results)]
        slow = "echo up; sleep 60"
        proc = subprocess.Popen([*cab, *base, "-o", f"command={slow}"], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        folder = results / "soak-killed"
        while time.monotonic() < deadline and not list(folder.rglob(".trial-*staging-*")):
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the agent's run
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        figures["harness kills (SIGKILL mid-cell)"] += 1
        figures["infrastructure errors"] += 1  # the harness itself failed that cell
        again = subprocess.run([*cab, *base, "-o", f"command={shlex.quote(FIXED)[1:-1]}"], env=env, capture_output=True)
        figures["cells run"] += 1
        if again.returncode == 0:
            figures["infrastructure errors recovered"] += 1
        cells.add(f"soak-killed/command/custom/{TASK}" + ("" if i == 0 else f"#{i + 1}"))
    return cells


def _pids_with(text: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"^{text}$"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


if __name__ == "__main__":
    sys.exit(main())
