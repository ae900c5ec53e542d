"""Start-up and wind-down of a ``cab`` invocation, apart from the cells it runs (issue 16).

``benchmarks/overhead.py`` amortises one ``cab sweep`` over its cells; what it cannot
separate is the fixed cost of the invocation: the interpreter, imports, plugin loading
and the sweep's preparation before the first cell starts (**start-up**), and the
normalisation, index and leaderboard after the last cell ends (**wind-down**).  This
script measures them from the outside, without instrumenting cab, so it times any cab
(``--before`` main's) the same way:

- **start-up** = the first cell's ``started_at`` minus the moment the process was spawned;
- **wind-down** = the process's exit minus the last cell's ``ended_at``;
- **between** = the median, over consecutive cells (``--jobs 1``), of one cell's ``ended_at``
  to the next one's ``started_at``: what the coordinator does between cells (0 when the next
  cell started before the last one ended: a sweep pipelines its cells, see
  ``cab_core/sweep/turns.py``; ``overhead.py``'s amortised figure counts what overlaps once);
- **first cell's extra** = the first cell's overhead (its ``duration_s`` minus the commands'
  own inner time, as ``overhead.py`` counts it) minus the median of the other cells';
- **fixed** = start-up + wind-down, what the invocation costs whatever its cells; **fixed, all
  of it** adds the first cell's extra and every gap between cells (what ``-n`` cells pay once);
- ``cab --help`` and ``cab --version``: the commands that load no plugin;
- ``cab plugins``: loading every plugin, nothing run;
- ``--breakdown``: the same sweep run in-process by a probe that times each phase of
  the coordinator (wall and the process's CPU): importing the CLI, the sweep command's
  own imports, loading plugins,
  preparing (tasks, manifest, index, executor), the cells, draining (the executor and the
  sandboxes built ahead closed), closing (normalisation, index), after closing (the
  leaderboard, exit handlers), and the interpreter's exit.

Each figure is the median of ``-r`` repeats of a fresh process (a sweep of ``-n`` cells
of the trivial task of ``overhead.py``), run interleaved with the ``--before`` cab so a
busy machine slows both alike; CPU is the child's user+sys time, steadier than wall time
on a loaded machine.

    python benchmarks/startup.py                     # -n 2 cells, -r 5 repeats
    python benchmarks/startup.py --before /work/wt-before/.venv/bin/cab --json
    python benchmarks/startup.py --breakdown --before /work/wt-before/.venv/bin/cab
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from overhead import AGENT, CAB, _load, _read, inner_seconds, timed, write_task  # noqa: E402


def spawn(argv: list[str]) -> dict:
    """Run ``argv`` once: its wall and CPU seconds, its spawn and exit times (epoch seconds)."""
    before = os.times()
    spawned = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    exited = time.time()
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv[:2])} failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return {"wall": wall, "cpu": cpu, "spawned": spawned, "exited": exited}


def sweep_once(cab: str, tasks: Path, results: Path, n: int) -> dict:
    """One ``cab sweep`` of ``n`` cells: start-up, wind-down and between, from the cells' own times."""
    run = spawn([cab, "sweep", "--adapters", "command", "--models", "custom", "--tasks", "bench/calc",
                 "--tasks-dir", str(tasks), "--trials", str(n), "--jobs", "1", "--results", str(results),
                 "--sweep-id", "startup", "-o", f"command={timed(AGENT)}", "--json"])
    files = list(results.glob("startup/**/cell.json"))
    cells = [json.loads(p.read_text()) for p in files]
    if len(cells) != n:
        raise SystemExit(f"{cab} sweep wrote {len(cells)} cells, not {n}")
    spans = sorted((_epoch(c["started_at"]), _epoch(c["ended_at"])) for c in cells)
    # each cell's overhead as overhead.py counts it: its duration minus the commands' own inner time
    overheads = sorted((_epoch(c["started_at"]), c["duration_s"] - inner_seconds(_read(p.parent / "agent_output.txt"))
                        - inner_seconds(_read(p.parent / "test_output.txt"))) for c, p in zip(cells, files))
    first_extra = overheads[0][1] - statistics.median(o for _, o in overheads[1:]) if n > 1 else 0.0
    startup = spans[0][0] - run["spawned"]
    winddown = run["exited"] - max(e for _, e in spans)
    # --jobs 1: one cell's ended_at to the next one's started_at (the coordinator's work between them);
    # a cell started before the last one ended (pipelined) left no gap
    gaps = [max(0.0, nxt[0] - prev[1]) for prev, nxt in zip(spans, spans[1:])]
    between = statistics.median(gaps) if gaps else 0.0
    return {"startup": startup, "winddown": winddown, "between": between, "first_extra": first_extra,
            "fixed": startup + winddown, "fixed_all": startup + winddown + first_extra + sum(gaps),
            "wall": run["wall"], "cpu": run["cpu"]}


#: Run by the cab's own interpreter: time the coordinator's phases by wrapping the functions that
#: mark them (looked up by name, so main's cab and this one are probed alike).
PROBE = r"""
import atexit, functools, json, os, sys, time
marks = []
def mark(label):
    marks.append((label, time.perf_counter(), time.process_time()))
def dump():  # registered first, so it runs after every other exit handler
    mark("end")
    with open(os.environ["CAB_PROBE_OUT"], "w") as fh:
        json.dump({"marks": marks, "wall_at_end": time.time()}, fh)
atexit.register(dump)
def around(owner, name, label):
    f = getattr(owner, name, None)
    if f is None:
        return
    @functools.wraps(f)
    def timed(*a, **k):
        mark(label + ">")
        try:
            return f(*a, **k)
        finally:
            mark(label + "<")
    setattr(owner, name, timed)
import importlib.abc, importlib.util
WRAP = {"cab_core.plugins": [("get_plugin_manager", "plugins")], "cab_core.sweep.run": [("_drive", "cells"),
        ("_close", "close")], "cab_core.cli.sweep": [("_sweep_rows", "leaderboard")]}
class Wrapping(importlib.abc.MetaPathFinder):  # wraps as each module is imported, when cab imports it
    def find_spec(self, name, path, target=None):
        if name not in WRAP:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        run_module = spec.loader.exec_module
        def exec_module(module):
            run_module(module)
            for function, label in WRAP[name]:
                around(module, function, label)
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Wrapping())
mark("start")
import cab_core.cli
mark("cli imported")
sys.argv = ["cab", *sys.argv[1:]]
cab_core.cli.main()  # as the cab script runs it
"""


def breakdown_once(cab: str, tasks: Path, results: Path, n: int) -> dict:
    """One in-process sweep through :data:`PROBE`: ms of wall and CPU per phase."""
    out = results.with_suffix(".probe.json")
    python = str(Path(cab).parent / "python")
    argv = [python, "-c", PROBE, "sweep", "--adapters", "command", "--models", "custom", "--tasks", "bench/calc",
            "--tasks-dir", str(tasks), "--trials", str(n), "--jobs", "1", "--results", str(results),
            "--sweep-id", "startup", "-o", f"command={timed(AGENT)}", "--json"]
    t0 = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "CAB_PROBE_OUT": str(out)})
    exited = time.time()
    if not out.exists():
        raise SystemExit(f"the probe of {cab} failed: {proc.stderr.strip().splitlines()[-3:]}")
    data = json.loads(out.read_text())
    at = {label: (wall, cpu) for label, wall, cpu in data["marks"]}
    phases = {"importing the cli": ("start", "cli imported"), "command's imports": ("cli imported", "plugins>"), "plugins": ("plugins>", "plugins<"),
              "preparing": ("plugins<", "cells>"), "cells": ("cells>", "cells<"), "closing": ("close>", "close<"),
              "draining": ("cells<", "close>"), "after closing": ("close<", "end")}
    figures = {}
    for name, (a, b) in phases.items():
        if a in at and b in at:
            figures[name + " wall"] = at[b][0] - at[a][0]
            figures[name + " cpu"] = at[b][1] - at[a][1]
    figures["interpreter exit wall"] = exited - data["wall_at_end"]  # after the exit handlers
    figures["interpreter start wall"] = (exited - t0) - (at["end"][0] - at["start"][0]) - figures["interpreter exit wall"]
    return figures


def _epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def measure(cabs: dict[str, str], tasks: Path, root: Path, n: int, repeats: int, breakdown: bool = False) -> dict:
    """Every figure for every cab, repeats interleaved; medians in ms."""
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in cabs}
    for r in range(repeats):
        for name, cab in cabs.items():
            if breakdown:
                figures = breakdown_once(cab, tasks, root / f"probe-{name}-{r}", n)
                for key, value in figures.items():
                    samples[name].setdefault(key, []).append(value)
                continue
            figures = {}
            for label, argv in (("help", [cab, "--help"]), ("version", [cab, "--version"]),
                                ("plugins", [cab, "plugins", "--json"])):
                run = spawn(argv)
                figures[f"{label}_wall"], figures[f"{label}_cpu"] = run["wall"], run["cpu"]
            sweep = sweep_once(cab, tasks, root / f"results-{name}-{r}", n)
            figures.update({f"sweep_{k}": v for k, v in sweep.items()})
            for key, value in figures.items():
                samples[name].setdefault(key, []).append(value)
    return {name: {k: round(statistics.median(v) * 1000, 1) for k, v in figs.items()} for name, figs in samples.items()}


ROWS = (("cab --help", "help_wall", "help_cpu"), ("cab --version", "version_wall", "version_cpu"),
        ("cab plugins", "plugins_wall", "plugins_cpu"), ("sweep start-up", "sweep_startup", None),
        ("sweep wind-down", "sweep_winddown", None), ("sweep fixed cost", "sweep_fixed", None),
        ("sweep between cells", "sweep_between", None), ("first cell's extra", "sweep_first_extra", None),
        ("fixed, all of it", "sweep_fixed_all", None),
        ("sweep whole", "sweep_wall", "sweep_cpu"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2, help="cells per sweep [2]")
    parser.add_argument("-r", "--repeats", type=int, default=5, help="fresh processes per figure [5]")
    parser.add_argument("--before", metavar="CAB", help="another cab executable measured in the same invocation")
    parser.add_argument("--breakdown", action="store_true", help="time the coordinator's phases in-process instead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cabs = {"before": args.before, "after": CAB} if args.before else {"cab": CAB}
    with tempfile.TemporaryDirectory(prefix="cab-startup-") as tmp:
        root = Path(tmp)
        tasks = write_task(root)
        for cab in cabs.values():  # the task's expected identities are recorded once, untimed
            subprocess.run([cab, "tasks", "validate", "bench/calc", "--tasks-dir", str(tasks)], capture_output=True)
        load = _load()
        figures = measure(cabs, tasks, root, args.n, args.repeats, args.breakdown)
    if args.json:
        print(json.dumps({"n": args.n, "repeats": args.repeats, "load": load, "figures": figures}, indent=2))
        return
    print(f"load average at the start: {load}; medians of {args.repeats} fresh processes, sweeps of {args.n} cells")
    print(f"{'ms':<22}" + "".join(f"{name + ' wall':>14}{name + ' cpu':>13}" for name in cabs))
    rows = ROWS
    if args.breakdown:
        labels = [k[:-5] for k in next(iter(figures.values())) if k.endswith(" wall")]
        rows = [(label, label + " wall", label + " cpu" if not label.startswith("interpreter") else None)
                for label in labels]
    for label, wall, cpu in rows:
        cells = "".join(f"{f.get(wall, float('nan')):>14.1f}" + (f"{f.get(cpu, float('nan')):>13.1f}" if cpu else f"{'':>13}")
                        for f in figures.values())
        print(f"{label:<22}{cells}")


if __name__ == "__main__":
    main()
