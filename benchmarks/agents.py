"""Every real agent on one cell: the README's agents table, measured.

For each registered adapter with an ``install`` (the real agents, as ``cab agents list``
shows them) that is installed, runs ``cab run --adapter A --model scripted/oracle --task
polyglot/python-slugify`` ``--repeat`` times (a fresh ``cab`` process each, as a user
would) and prints one Markdown row per agent:

- the agent's version as the cell recorded it;
- the wire protocol(s) its model calls used, as the recording proxy saw them (observed,
  not declared);
- headless, or headless + interactive when the adapter has a TUI driver;
- the median cell time (the cell's own ``duration_s``) and its spread;
- the proxy's token count for the cell, whether every call's usage was reported by the
  protocol (``reported``) or any was estimated, and the agent's own count where it
  prints one (``agrees`` / ``differs`` / ``–``);
- whether every run passed (the oracle should).

    python benchmarks/agents.py                  # every installed agent, 3 runs each
    python benchmarks/agents.py --repeat 5 pi opencode
    python benchmarks/agents.py --json

Run it on an idle machine: cell times are wall time and move with the load, which the
script prints beside the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CAB = str(Path(sys.executable).parent / "cab")
TASK = "polyglot/python-slugify"
MODEL = "scripted/oracle"


def real_agents() -> list:
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry

    registry = Registry(get_plugin_manager())
    return sorted((a for a in registry.adapters if a.install is not None), key=lambda a: a.name)


def run_once(adapter: str, results: Path, trial: int) -> dict:
    proc = subprocess.run(
        [CAB, "run", "--adapter", adapter, "--model", MODEL, "--task", TASK, "--results", str(results),
         "--sweep-id", "bench-agents", "--trial", str(trial), "--json"],
        capture_output=True, text=True, timeout=900)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{adapter}: cab run exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    cell = json.loads(proc.stdout)
    calls_file = results / "bench-agents" / adapter / MODEL / TASK / f"trial-{trial}" / "model_calls.jsonl"
    calls = [json.loads(line) for line in calls_file.read_text().splitlines()] if calls_file.exists() else []
    return {"cell": cell, "calls": calls}


def row(adapter, runs: list[dict]) -> dict:
    cells = [r["cell"] for r in runs]
    calls = [c for r in runs for c in r["calls"]]
    times = [c["duration_s"] for c in cells]
    tokens = [((c.get("scores") or {}).get("tokens") or {}).get("breakdown", {}).get("total_tokens") for c in cells]
    passes = [((c.get("scores") or {}).get("pass_rate") or {}).get("value") for c in cells]
    agent = [c.get("agent_tokens") or {} for c in cells]
    agrees = {a.get("agrees") for a in agent if a.get("reported")}
    return {
        "agent": adapter.name,
        "version": cells[0].get("agent_version") or adapter.version,
        "protocol": ", ".join(sorted({c.get("protocol") or "?" for c in calls})) or "none",
        "modes": "headless + interactive" if adapter.interactive else "headless",
        "median_s": round(statistics.median(times), 2),
        "min_s": round(min(times), 2),
        "max_s": round(max(times), 2),
        "tokens": statistics.median([t for t in tokens if t is not None] or [0]),
        "usage": "reported" if calls and all(c.get("usage_source") == "reported" for c in calls) else "estimated",
        "agent_count": "–" if not agrees else ("agrees" if agrees == {True} else "differs"),
        "passed": f"{sum(1 for p in passes if p == 1)}/{len(passes)}",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agents", nargs="*", help="adapter names (default: every installed real agent)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    agents = [a for a in real_agents() if not args.agents or a.name in args.agents]
    missing = [a.name for a in agents if a.is_installed and not a.is_installed()]
    agents = [a for a in agents if a.name not in missing]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cab-bench-agents-") as tmp:
        for adapter in agents:
            runs = [run_once(adapter.name, Path(tmp), trial) for trial in range(1, args.repeat + 1)]
            rows.append(row(adapter, runs))
            print(f"# {adapter.name}: {rows[-1]['median_s']} s median", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"scripted/oracle on {TASK}, {args.repeat} runs each; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    if missing:
        print(f"not installed (cab agents install NAME): {', '.join(missing)}")
    print()
    print("| agent | version | protocol | modes | median cell (s) | tokens (proxy) | usage | agent's own count | passed |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['agent']} | {r['version']} | {r['protocol']} | {r['modes']} | {r['median_s']} "
              f"({r['min_s']}–{r['max_s']}) | {r['tokens']:.0f} | {r['usage']} | {r['agent_count']} | {r['passed']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
