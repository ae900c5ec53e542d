"""Per-cell harness overhead beside a bare shell loop, measured in one invocation (issue 16).

The same trivial cell both ways: copy a two-file Python task (``calc.py`` with a bug,
``test_calc.py`` with 3 tests), run a one-line ``sed`` as the agent, run
``python -m pytest -q``, record pass/fail; N runs each.

- **shell loop**: ``mktemp``, ``cp``, the command, pytest, ``rm`` in one bash process.
- **cab**: ``cab sweep --adapters command --models custom -o command=... --trials N``
  (a fresh process, as a user would run it), in the local sandbox or ``--sandbox docker``.

Overhead = a run's own duration minus the time measured *inside* the agent command and
the test command by the commands themselves (each wrapped as ``ts=$EPOCHREALTIME; CMD;
te=$EPOCHREALTIME``).  Printed: the median overhead per run for both, the amortised
overhead (the whole invocation's wall time, start-up included, minus every run's inner
time, over N), and their ratios.  Targets (issue 16): cab local median <= 4x the shell
loop, amortised <= 60 ms; docker <= 400 ms per cell.

    python benchmarks/overhead.py                  # N=20, local sandbox
    python benchmarks/overhead.py --sandbox both   # local and docker, one shell loop for both
    python benchmarks/overhead.py --sandbox docker -n 10 --json
    python benchmarks/overhead.py --before /path/to/main/.venv/bin/cab   # before/after, one invocation

The docker cells run the same task in the default image (``cab/base:bookworm``, which
has python3 and pytest); the command adapter brings no agent of its own.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CAB = str(Path(sys.executable).parent / "cab")
PYTHON = sys.executable
AGENT = "sed -i s/a-b/a+b/ calc.py"
TIMED = re.compile(r"CABTIME (\d+\.\d+) (\d+\.\d+)")

CALC = "def add(a, b):\n    return a-b\n"
TESTS = ("from calc import add\n\n\ndef test_one():\n    assert add(1, 2) == 3\n\n\n"
         "def test_two():\n    assert add(2, 2) == 4\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n")


def timed(cmd: str) -> str:
    """``cmd`` wrapped so it prints the time spent inside it (bash's $EPOCHREALTIME)."""
    return f'ts=$EPOCHREALTIME; {cmd}; rc=$?; te=$EPOCHREALTIME; echo "CABTIME $ts $te"; exit $rc'


def write_task(root: Path) -> Path:
    folder = root / "tasks" / "bench" / "calc"
    (folder / "workspace" / "tests").mkdir(parents=True)
    (folder / "solution").mkdir()
    (folder / "workspace" / "calc.py").write_text(CALC)
    (folder / "workspace" / "tests" / "test_calc.py").write_text(TESTS)
    (folder / "solution" / "calc.py").write_text(CALC.replace("a-b", "a+b"))
    test = timed("python -m pytest -q -p no:cacheprovider")
    (folder / "task.toml").write_text(
        'id = "bench/calc"\nlanguage = "python"\ntoolchain = ["python3", "pytest"]\nprompt = "Fix add."\n'
        f"test_command = {json.dumps('bash -c ' + _sh_quote(test))}\ntest_timeout = 60\n"
        'expected_changes = ["calc.py"]\nprotected = ["tests/**"]\n')
    return root / "tasks"


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def inner_seconds(text: str) -> float:
    return sum(float(b) - float(a) for a, b in TIMED.findall(text))


def shell_loop(root: Path, n: int) -> dict:
    """The floor: the same cell as a bash loop; per-run overhead = run time minus inner time."""
    src = root / "tasks" / "bench" / "calc" / "workspace"
    script = f"""
for i in $(seq {n}); do
  rs=$EPOCHREALTIME
  d=$(mktemp -d); cp -r {src}/. "$d"; cd "$d"
  bash -c {_sh_quote(timed(AGENT))}
  bash -c {_sh_quote(timed(f'{PYTHON} -m pytest -q -p no:cacheprovider >/dev/null 2>&1'))} && echo pass || echo fail
  cd /; rm -rf "$d"
  re=$EPOCHREALTIME; echo "RUN $rs $re"
done
"""
    t0 = time.perf_counter()
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    runs = [float(b) - float(a) for a, b in re.findall(r"RUN (\d+\.\d+) (\d+\.\d+)", out)]
    inner = _shell_inner(out, n)
    per_run = [r - i for r, i in zip(runs, inner)]
    return {"median_ms": statistics.median(per_run) * 1000, "amortised_ms": (wall - sum(inner)) / n * 1000,
            "passes": out.count("pass\n")}


def _shell_inner(out: str, n: int) -> list[float]:
    """Per run, the agent's and the test's inner seconds (two CABTIME lines a run)."""
    times = [float(b) - float(a) for a, b in TIMED.findall(out)]
    return [sum(times[2 * i:2 * i + 2]) for i in range(n)]


def cab_sweep(root: Path, tasks: Path, n: int, sandbox: str, cab: str = CAB) -> dict:
    # The command adapter runs ``/bin/sh -c``, and dash has no $EPOCHREALTIME: the timed agent
    # runs in bash, as in the shell loop (``bash -c``).
    results = root / f"results-{sandbox}-{abs(hash(cab))}"
    args = [cab, "sweep", "--adapters", "command", "--models", "custom", "--tasks", "bench/calc", "--tasks-dir",
            str(tasks), "--trials", str(n), "--jobs", "1", "--sandbox", sandbox, "--results", str(results),
            "--sweep-id", "overhead", "-o", f"command=exec bash -c {_sh_quote(timed(AGENT))}", "--json"]
    # The task's expected identities are recorded on its first cell: do that before timing.
    subprocess.run([cab, "tasks", "validate", "bench/calc", "--tasks-dir", str(tasks)], capture_output=True)
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"cab sweep failed: {proc.stderr.strip().splitlines()[-1:]}")
    per_cell, inner_total, passes, spans = [], 0.0, 0, {}
    for cell_json in sorted(results.glob("overhead/**/cell.json")):
        cell = json.loads(cell_json.read_text())
        folder = cell_json.parent
        inner = inner_seconds(_read(folder / "agent_output.txt")) + inner_seconds(_read(folder / "test_output.txt"))
        inner_total += inner
        per_cell.append(cell["duration_s"] - inner)
        passes += int(cell["scores"]["pass_rate"]["value"] == 1.0)
        for span in cell["spans"]:
            spans.setdefault(span["kind"], []).append(span["duration_ms"])
    if not per_cell:
        raise SystemExit("cab sweep wrote no cells")
    return {"median_ms": statistics.median(per_cell) * 1000, "amortised_ms": (wall - inner_total) / len(per_cell) * 1000,
            "passes": passes, "cells": len(per_cell),
            "span_medians_ms": {k: round(statistics.median(v), 1) for k, v in sorted(spans.items())}}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="runs per system [20]")
    parser.add_argument("--sandbox", default="local", choices=("local", "docker", "both"),
                        help="cab's sandbox: local, docker (the cab/base image) or both, each beside the same shell loop [local]")
    parser.add_argument("--before", metavar="CAB", help="another cab executable (e.g. main's venv/bin/cab) run "
                                                       "on the same cells in the same invocation, for a before/after")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sandboxes = ("local", "docker") if args.sandbox == "both" else (args.sandbox,)
    with tempfile.TemporaryDirectory(prefix="cab-overhead-") as tmp:
        root = Path(tmp)
        tasks = write_task(root)
        shell = shell_loop(root, args.n)
        cabs = {}
        for name in sandboxes:
            if args.before:
                cabs[f"{name} (before)"] = cab_sweep(root, tasks, args.n, name, args.before)
            cabs[name] = cab_sweep(root, tasks, args.n, name)
    report = {"n": args.n, "load": _load(), "shell": shell, "cab": cabs,
              "ratio_median": {k: v["median_ms"] / shell["median_ms"] for k, v in cabs.items() if shell["median_ms"]},
              "ratio_amortised": {k: v["amortised_ms"] / shell["amortised_ms"] for k, v in cabs.items()
                                  if shell["amortised_ms"]}}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"load average at the start: {report['load']}")
    print(f"{'system':<22}{'median ms/run':>16}{'amortised ms/run':>20}{'passes':>9}{'ratio (median, amortised)':>28}")
    print(f"{'bare shell loop':<22}{shell['median_ms']:>16.1f}{shell['amortised_ms']:>20.1f}{shell['passes']:>9}")
    for name, cab in cabs.items():
        ratios = f"{report['ratio_median'][name]:.1f}x, {report['ratio_amortised'][name]:.1f}x"
        print(f"{'cab ' + name:<22}{cab['median_ms']:>16.1f}{cab['amortised_ms']:>20.1f}{cab['passes']:>9}{ratios:>28}")
    for name, cab in cabs.items():
        print(f"cab {name} span medians (ms): " + ", ".join(f"{k} {v}" for k, v in cab["span_medians_ms"].items()))


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
