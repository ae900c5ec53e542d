"""Sweep throughput and the harness's overhead per cell.

Writes a one-file task whose test is a ``grep``, and runs ``cab sweep`` (a fresh
process, as a user would) with the ``command`` adapter playing a fixed-duration
agent (``sleep D; echo ok > done.txt``) over N cells, once with ``--jobs 1`` and
once with ``--jobs 2``.  Prints:

- cells per minute for each, and the scaling efficiency ``cpm(2) / (2 * cpm(1))``;
- the harness overhead per cell, median over the cells of the ``--jobs 1`` sweep:
  the cell's own duration minus the agent's run (the launch, as the sandbox timed
  it) and the test run (verify); beside it, where that time goes (the cell's spans)
  and how much the sandbox adds to the agent's nominal D seconds;
- the amortised overhead: the whole ``cab sweep`` process's wall time (Python start,
  plugin loading, the sweep, normalisation, the index, the summary) minus every
  cell's agent and test time, divided by N;
- the CPU time per cell of ``cab`` and everything it started (the agent sleeps, so
  this is the harness's own cost; unlike wall time it hardly moves on a busy machine).

Goals: median overhead under 50 ms per cell in the local sandbox, amortised under
100 ms per cell over a 20-cell sweep, scaling efficiency at least 0.9 from 1 to 2 jobs.

    python benchmarks/sweep_scaling.py                 # N=20, D=0.5 s
    python benchmarks/sweep_scaling.py -n 40 --agent-seconds 1 --repeat 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cab_core.results import iter_cell_dirs, read_cell

CAB = str(Path(sys.executable).parent / "cab")


def write_task(root: Path) -> Path:
    """A task whose test takes a few milliseconds, so the agent's sleep dominates the cell."""
    folder = root / "tasks" / "bench" / "sleep"
    (folder / "workspace").mkdir(parents=True)
    (folder / "solution").mkdir()
    (folder / "workspace" / "README").write_text("write done.txt\n")
    (folder / "solution" / "done.txt").write_text("ok\n")
    (folder / "task.toml").write_text(
        'id = "bench/sleep"\nlanguage = "shell"\nprompt = "Write ok to done.txt."\n'
        'test_command = "grep -q ok done.txt && echo 1 passed, 0 failed"\ntest_timeout = 30\nexpected_changes = ["done.txt"]\n'
    )
    return root / "tasks"


def run_sweep(root: Path, tasks: Path, *, cells: int, jobs: int, agent_s: float, sweep_id: str) -> dict:
    """Run one sweep in a fresh ``cab`` process; return its wall time and per-cell numbers."""
    args = [CAB, "sweep", "--adapters", "command", "--models", "custom", "--tasks", "bench/sleep",
            "--trials", str(cells), "--jobs", str(jobs), "--sweep-id", sweep_id, "--results", str(root / "results"),
            "--tasks-dir", str(tasks), "-o", f"command=sleep {agent_s}; echo ok > done.txt", "--json"]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"cab sweep failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)["report"]
    per_cell = []
    for folder in iter_cell_dirs(root / "results" / sweep_id):
        cell = read_cell(folder)
        if not cell.passed:  # the numbers would not be the ones the goals are about
            tail = (folder / "test_output.txt").read_text()[-500:] if (folder / "test_output.txt").exists() else ""
            sys.exit(f"{cell.cell_id} did not pass ({cell.status}: {cell.error}); test output:\n{tail}")
        spans = {}
        for span in cell.spans:
            if span.parent_id is None or span.kind in ("container",):
                spans[span.kind] = spans.get(span.kind, 0.0) + span.duration_ms
        launch_ms = next(s.attrs["duration_s"] * 1000 for s in cell.spans if s.kind == "container")
        verify_ms = next(s.attrs["duration_s"] * 1000 for s in cell.spans if s.kind == "verify")
        total_ms = cell.duration_s * 1000
        top = sum(v for k, v in spans.items() if k != "container")
        per_cell.append({
            "total_ms": total_ms, "agent_ms": launch_ms, "test_ms": verify_ms,
            "overhead_ms": total_ms - launch_ms - verify_ms,
            "sandbox_launch_ms": launch_ms - agent_s * 1000,
            "setup_ms": spans.get("task_setup", 0.0),
            "adapter_run_outside_launch_ms": spans.get("adapter_run", 0.0) - launch_ms,
            "verify_outside_test_ms": spans.get("verify", 0.0) - verify_ms,
            "diff_ms": spans.get("diff", 0.0), "score_ms": spans.get("score", 0.0),
            "cleanup_ms": spans.get("cleanup", 0.0),
            "outside_spans_ms": total_ms - top,
        })
    return {"jobs": jobs, "cells": len(per_cell), "wall_s": wall, "cpu_s": cpu, "cells_per_minute": len(per_cell) / wall * 60,
            "sweep_elapsed_s": report["elapsed_s"], "per_cell": per_cell}


def _children_cpu() -> float:
    """CPU seconds (user + system) of every waited-for child process so far: cab and all it ran."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--cells", type=int, default=20, help="cells per sweep (>= 20 for the goals)")
    ap.add_argument("--agent-seconds", type=float, default=0.5, help="how long the fixed-duration agent sleeps")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each sweep this many times, alternating, and keep the fastest (a shared machine is noisy)")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = ap.parse_args(argv)

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cab-bench-") as tmp:
        root = Path(tmp)
        tasks = write_task(root)
        ones, twos = [], []
        for i in range(args.repeat):
            ones.append(run_sweep(root, tasks, cells=args.cells, jobs=1, agent_s=args.agent_seconds, sweep_id=f"jobs1-{i}"))
            twos.append(run_sweep(root, tasks, cells=args.cells, jobs=2, agent_s=args.agent_seconds, sweep_id=f"jobs2-{i}"))
        one = min(ones, key=lambda r: r["wall_s"])
        two = min(twos, key=lambda r: r["wall_s"])
    load = (load_before, os.getloadavg()[0])

    cells = one["per_cell"]
    work_s = sum(c["agent_ms"] + c["test_ms"] for c in cells) / 1000
    amortised_ms = (one["wall_s"] - work_s) / len(cells) * 1000
    efficiency = two["cells_per_minute"] / (2 * one["cells_per_minute"])
    keys = ("overhead_ms", "setup_ms", "adapter_run_outside_launch_ms", "verify_outside_test_ms", "diff_ms", "score_ms",
            "cleanup_ms", "outside_spans_ms", "sandbox_launch_ms", "agent_ms", "test_ms", "total_ms")
    result = {
        "cells": len(cells), "agent_seconds": args.agent_seconds,
        "cells_per_minute": {"jobs1": one["cells_per_minute"], "jobs2": two["cells_per_minute"]},
        "scaling_efficiency": efficiency,
        "median_ms": {k: median(cells, k) for k in keys},
        "median_ms_jobs2": {k: median(two["per_cell"], k) for k in ("overhead_ms", "total_ms")},
        "amortised_overhead_ms": amortised_ms,
        "cpu_ms_per_cell": one["cpu_s"] / len(cells) * 1000,
        "wall_s": {"jobs1": one["wall_s"], "jobs2": two["wall_s"]},
        "load_average": {"before": load[0], "after": load[1], "cpus": os.cpu_count()},
        "goals": {"median_overhead_under_50ms": median(cells, "overhead_ms") < 50,
                  "amortised_under_100ms": amortised_ms < 100, "scaling_at_least_0.9": efficiency >= 0.9},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["median_ms"]
    print(f"{len(cells)} cells, agent = sleep {args.agent_seconds:g} s, test = grep; load average "
          f"{load[0]:.1f} -> {load[1]:.1f} on {os.cpu_count()} CPUs" + (f"; best of {args.repeat}" if args.repeat > 1 else ""))
    print(f"cells per minute: jobs 1 {one['cells_per_minute']:.1f}, jobs 2 {two['cells_per_minute']:.1f}; "
          f"scaling efficiency {efficiency:.2f} (goal >= 0.9)")
    print(f"harness overhead per cell (total - agent - test), median: {m['overhead_ms']:.1f} ms (goal < 50 ms); "
          f"with 2 jobs {result['median_ms_jobs2']['overhead_ms']:.1f} ms")
    print(f"  where it goes (medians): task setup {m['setup_ms']:.1f}, adapter/proxy/sandbox setup "
          f"{m['adapter_run_outside_launch_ms']:.1f}, diff {m['diff_ms']:.1f}, verify setup "
          f"{m['verify_outside_test_ms']:.1f}, score {m['score_ms']:.1f}, cleanup {m['cleanup_ms']:.1f}, "
          f"outside spans (proxy start, record) {m['outside_spans_ms']:.1f} ms")
    print(f"  the sandbox's own cost inside the agent's time: launch {m['agent_ms']:.1f} ms for a "
          f"{args.agent_seconds * 1000:.0f} ms agent (+{m['sandbox_launch_ms']:.1f} ms); test run {m['test_ms']:.1f} ms")
    print(f"amortised overhead over the {len(cells)}-cell sweep incl. start-up: {amortised_ms:.1f} ms per cell "
          f"(goal < 100 ms; process wall {one['wall_s']:.2f} s)")
    print(f"CPU per cell (cab and everything it ran; the agent sleeps and grep is ~1 ms, so this is the harness's "
          f"own, and robust to a busy machine): {result['cpu_ms_per_cell']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
