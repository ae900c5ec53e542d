"""The local sandbox's start time: the allow-list root against the old full-root view.

Runs ``/bin/true`` N times in a local session of each kind (interleaved, so a busy
machine slows both alike) with a cell's usual environment (:func:`cab_core.runner.agent_env`:
the harness's Python, cargo, node on PATH) and prints the median wall time of a
run, the ratio allow-list / full root (goal: at most 2), and the time spent building
the bwrap command alone (a session builds a command's view once; a new session builds
it afresh, with the process-wide caches warm).  The first allow-list run, which asks the Python on PATH for
its ``sys.path`` once, is reported apart.

    python benchmarks/sandbox_start.py            # N=30
    python benchmarks/sandbox_start.py -n 50 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cab_core.runner import agent_env
from cab_core.sandbox.local import LocalSession, bwrap_path


def timed_run(session: LocalSession, work: Path, home: Path, env: dict) -> float:
    t0 = time.perf_counter()
    result = session.run(["/bin/true"], cwd=work, env=env, timeout=30, writable=[home])
    elapsed = time.perf_counter() - t0
    if result.exit_code != 0:
        raise SystemExit(f"/bin/true failed in the sandbox: {result.output.strip()[:200]}")
    return elapsed


def timed_wrap(make, work: Path, home: Path, env: dict, n: int = 20) -> float:
    """Mean time to build the bwrap command of a session ``make()`` gives (a fresh one each time, or one reused)."""
    t0 = time.perf_counter()
    for _ in range(n):
        make()._wrap(["/bin/true"], work, [work, home], env, False)
    return (time.perf_counter() - t0) / n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="runs of each kind (default 30)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not bwrap_path():
        print("bwrap is not installed: nothing to compare", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cab-bench-") as tmp:
        work, home = Path(tmp, "work"), Path(tmp, "home")
        work.mkdir()
        home.mkdir()
        env = agent_env(home, "bench-sandbox-start")
        allow, full = LocalSession(), LocalSession(full_root=True)
        first = timed_run(allow, work, home, env)
        timed_run(full, work, home, env)
        times: dict[str, list[float]] = {"allow_list": [], "full_root": []}
        for _ in range(args.n):
            times["allow_list"].append(timed_run(allow, work, home, env))
            times["full_root"].append(timed_run(full, work, home, env))
        wrap = {"allow_list": timed_wrap(lambda: allow, work, home, env),
                "allow_list_new_session": timed_wrap(LocalSession, work, home, env),
                "full_root": timed_wrap(lambda: full, work, home, env)}
        mounts = len(allow.describe()["mounts"])
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {
        "runs": args.n,
        "median_ms": {k: round(v * 1000, 1) for k, v in med.items()},
        "ratio": round(med["allow_list"] / med["full_root"], 2),
        "first_allow_list_run_ms": round(first * 1000, 1),
        "build_command_ms": {k: round(v * 1000, 2) for k, v in wrap.items()},
        "allow_list_mounts": mounts,
        "goal": "ratio <= 2",
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"sandbox start, /bin/true, median of {args.n} runs each (interleaved):")
        print(f"  allow-list root   {out['median_ms']['allow_list']:7.1f} ms   ({mounts} host paths shown)")
        print(f"  full root (old)   {out['median_ms']['full_root']:7.1f} ms")
        print(f"  ratio             {out['ratio']:7.2f}     (goal: at most 2)")
        print(f"  first allow-list run (asks the Python on PATH for its sys.path): {out['first_allow_list_run_ms']} ms")
        b = out["build_command_ms"]
        print(f"  building the bwrap command: allow-list {b['allow_list']} ms ({b['allow_list_new_session']} ms in a new "
              f"session, the view built afresh), full root {b['full_root']} ms")
    return 0 if out["ratio"] <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
