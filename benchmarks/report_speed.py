"""How fast the report is written and how fast its leaderboard renders, for a large sweep.

Generates N synthetic cells (default 2,000: 10 adapter×model groups × 40 tasks × 5
trials) as real ``cell.json`` files with realistic content — seven axes with full
breakdowns, eight spans, a few model calls whose conversation grows call by call,
a diff, a terminal recording, agent and test output — written through the same
serializer cab uses.  Then:

1. times ``cab report RESULTS --out SITE`` end to end (a fresh process, as a user runs
   it), median of 3 runs; the budget is 10 s;
2. opens the sweep page (leaderboard, plots, matrix) in headless Chromium from disk and
   times navigation start → first frame painted after the page's scripts ran,
   median of 3 cold loads; the budget is 2 s.

    python benchmarks/report_speed.py              # N=2000
    python benchmarks/report_speed.py -n 500 --keep /tmp/bench

Exits 1 when a budget is exceeded.  Needs Debian's chromium at /usr/bin/chromium and
the ``playwright`` Python package (``--no-browser`` skips step 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cab_core import serialization
from cab_core.models import AxisScore, CellId, CellResult, ModelCall, Span, ToolCall

CAB = str(Path(sys.executable).with_name("cab"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WRITE_BUDGET_S = 10.0
RENDER_BUDGET_S = 2.0

ADAPTERS = ("pi", "aider", "opencode", "mini", "command")
MODELS = ("openai/gpt-oss-120b", "qwen/qwen3-coder-30b")
CATEGORIES = ("polyglot", "integrity", "safety")
LANGS = ("python", "rust", "js", "c", "go")

SOURCE = [f"    value_{i} = compute(value_{i - 1}, step={i})  # keep the running total" for i in range(1, 60)]


def _diff(rng: random.Random, task: str) -> str:
    name = task.split("/")[-1].replace("-", "_")
    lines = [f"diff --git a/src/{name}.py b/src/{name}.py", "index 1111111..2222222 100644",
             f"--- a/src/{name}.py", f"+++ b/src/{name}.py"]
    start = rng.randint(1, 40)
    lines.append(f"@@ -{start},12 +{start},14 @@ def solve(data):")
    for i in range(12):
        src = SOURCE[(start + i) % len(SOURCE)]
        if i in (4, 5):
            lines += ["-" + src, "+" + src.replace("compute", "compute_checked")]
        elif i == 8:
            lines += ["+    if value_8 is None:", "+        raise ValueError('bad input')"]
        else:
            lines.append(" " + src)
    return "\n".join(lines) + "\n"


def _cast(rng: random.Random) -> str:
    header = {"version": 2, "width": 120, "height": 40, "timestamp": 1795776993, "env": {"TERM": "xterm-256color"}}
    out = [json.dumps(header)]
    t = 0.0
    for i in range(50):
        t += rng.uniform(0.01, 0.4)
        text = (f"\x1b[1;34m▶\x1b[0m step {i}: running \x1b[32mtool\x1b[0m read src/lib.py ... ok\r\n"
                if i % 3 else f"\x1b[2K\r\x1b[33mthinking\x1b[0m {'.' * (i % 7)}")
        out.append(json.dumps([round(t, 6), "o", text]))
    return "\n".join(out) + "\n"


def make_cell(root: Path, sweep: str, adapter: str, model: str, task: str, trial: int, rng: random.Random) -> None:
    """Write one synthetic cell folder under ``root``, as ``cab run`` lays it out."""
    ident = CellId(sweep=sweep, adapter=adapter, model=model, task=task, trial=trial)
    skill = (ADAPTERS.index(adapter) * 0.08 + MODELS.index(model) * 0.1 + 0.35)
    passed = rng.random() < skill
    infra = rng.random() < 0.01
    refusal_task = task.startswith("safety/")
    start = dt.datetime(2026, 6, 16, 12, 0, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=rng.uniform(0, 36000))
    wall_ms = rng.lognormvariate(10.0, 0.6)
    calls, messages = [], [{"role": "system", "content": "You are a coding agent. " * 30},
                           {"role": "user", "content": f"Fix the bug in {task}. " * 8}]
    t = start + dt.timedelta(milliseconds=300)
    for i in range(rng.randint(2, 6)):
        completion = f"I'll look at the file and change line {i}." if i % 2 else ""
        tool = () if completion else (ToolCall(id=f"call_{i}", name="write",
                                               arguments=json.dumps({"path": "src/lib.py", "content": "\n".join(SOURCE[:20])})),)
        p_tok, c_tok = 400 + 350 * i, rng.randint(40, 500)
        calls.append(ModelCall(index=i, timestamp=t, request_hash=f"{rng.getrandbits(64):016x}", model=model,
                               messages=list(messages), completion=completion, tool_calls=tool,
                               finish_reason="tool_calls" if tool else "stop", prompt_tokens=p_tok,
                               completion_tokens=c_tok, total_tokens=p_tok + c_tok, latency_ms=rng.uniform(300, 4000)))
        messages.append({"role": "assistant", "content": completion or None})
        messages.append({"role": "tool" if tool else "user", "content": "ok: wrote src/lib.py\n" * 5})
        t += dt.timedelta(milliseconds=wall_ms / 8)
    tokens = sum(c.total_tokens for c in calls)
    blast = 0.5 if rng.random() < 0.05 else 0.0
    integrity = 0.0 if rng.random() < 0.03 else 1.0
    refused = refusal_task and rng.random() < 0.6
    scores = {
        "pass_rate": AxisScore(axis="pass_rate", value=float(passed), scorer="pass_rate", breakdown={
            "pass": int(passed), "exit_code": 0 if passed else 1, "timed_out": False,
            "stdout_tail": "test result: ok. 5 passed\n" if passed else "FAILED tests::edge - assertion\n",
            "stderr_tail": "", "partial_score": 1.0 if passed else rng.choice([0.0, 0.4, 0.6])}),
        "tokens": AxisScore(axis="tokens", value=float(tokens) if passed else None, scorer="tokens", breakdown={
            "prompt_tokens": sum(c.prompt_tokens for c in calls), "completion_tokens": sum(c.completion_tokens for c in calls),
            "total_tokens": tokens, "model_calls": len(calls), "tokens_per_correct_task": tokens if passed else None,
            "pass_used_for_division": int(passed)}),
        "latency": AxisScore(axis="latency", value=wall_ms, scorer="latency", breakdown={
            "wall_clock_ms": wall_ms, "container_active_ms": wall_ms * 0.9, "model_call_ms": sum(c.latency_ms for c in calls)}),
        "blast_radius": AxisScore(axis="blast_radius", value=blast, scorer="blast_radius", breakdown={
            "blast_radius": blast, "added": ["NOTES.md"] if blast else [], "removed": [], "modified": ["src/lib.py"],
            "unexpected_changes": ["NOTES.md"] if blast else [], "expected_changes": ["src/lib.py"],
            "total_changes": 2 if blast else 1, "extra_git_dir": False}),
        "refusal": AxisScore(axis="refusal", value=(float(refused) if refusal_task else None), scorer="refusal",
                             not_applicable=not refusal_task, breakdown={
            "refusal": int(refused), "not_applicable": not refusal_task, "expected_refusal": refusal_task,
            "refusal_produced": refused, "refusal_correct": refused if refusal_task else None,
            "marker_hits": ["I can't help"] if refused else [], "keyword_hits": []}),
        "integrity": AxisScore(axis="integrity", value=integrity, scorer="integrity", breakdown={
            "integrity": int(integrity), "not_applicable": False, "task_id": task,
            "protected_modified": [] if integrity else ["tests/test_lib.py"], "protected_removed": [], "hook_files": [],
            "findings": [] if integrity else ["modified protected file tests/test_lib.py"]}),
    }
    composite = 0.4 * passed + 0.2 * integrity + 0.15 * (1.0 if passed else 0.0) + 0.15 * 0.8 + 0.1 * (1 - blast)
    scores["composite"] = AxisScore(axis="composite", value=composite, scorer="composite", breakdown={
        "composite": composite, "weights": {"pass_rate": 0.4, "integrity": 0.2, "cost": 0.15, "latency": 0.15, "blast_radius": 0.1},
        "components": {"pass_rate": float(passed), "integrity": integrity}, "note": "synthetic"})
    spans, offset = [], 0.0
    launch_id = f"{rng.getrandbits(64):016x}"
    for kind, name, share, parent in (("task_setup", f"prepare:{task}", 0.02, None), ("adapter_run", f"{adapter}:{task}", 0.7, None),
                                      ("tool_call", "applied_plugins", 0.0, launch_id), ("container", f"{adapter}:launch", 0.69, launch_id),
                                      ("diff", "diff:workdir", 0.01, None), ("verify", f"verify:{task}", 0.25, None),
                                      ("score", "score", 0.005, None), ("cleanup", f"cleanup:{adapter}", 0.005, None)):
        span_id = launch_id if kind == "adapter_run" else f"{rng.getrandbits(64):016x}"
        spans.append(Span(span_id=span_id, kind=kind, name=name, start=start + dt.timedelta(milliseconds=offset),
                          duration_ms=wall_ms * share, parent_id=parent,
                          attrs={"argv": [adapter, "--model", model, "--print"], "timeout_s": 600, "exit_code": 0}
                          if kind == "container" else {"workdir": "/tmp/cab-cell/work"}))
        if parent is None:
            offset += wall_ms * share
    result = CellResult(
        cell_id=ident.cell_id, identity=ident, status="infra_error" if infra else "ok",
        error="endpoint unreachable: connection refused" if infra else None, started_at=start,
        ended_at=start + dt.timedelta(milliseconds=wall_ms), duration_s=wall_ms / 1000, exit_code=0,
        sandbox="local", isolation="bwrap", agent_version="1.0.0", model_build_id=model, scores=scores,
        spans=spans, model_calls=calls, final_output="Done: fixed the bug." if not refused else "I can't help with that.",
        files={"terminal": "terminal.cast", "agent_output": "agent_output.txt", "test_output": "test_output.txt",
               "diff": "diff.patch", "spans": "spans.jsonl", "model_calls": "model_calls.jsonl"},
        command=f"cab run --adapter {adapter} --model {model} --task {task} --sweep-id {sweep}",
        host={"platform": "Linux", "python": "3.11"},
    )
    folder = root / ident.relpath
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cell.json").write_text(serialization.dumps(result), encoding="utf-8")
    (folder / "spans.jsonl").write_text("".join(serialization.dumps(s, indent=None) + "\n" for s in spans), encoding="utf-8")
    (folder / "model_calls.jsonl").write_text("".join(serialization.dumps(c, indent=None) + "\n" for c in calls), encoding="utf-8")
    (folder / "diff.patch").write_text(_diff(rng, task), encoding="utf-8")
    (folder / "terminal.cast").write_text(_cast(rng), encoding="utf-8")
    (folder / "agent_output.txt").write_text("step 1: read\nstep 2: write\nDone: fixed the bug.\n" * 10, encoding="utf-8")
    (folder / "test_output.txt").write_text(scores["pass_rate"].breakdown["stdout_tail"] * 5, encoding="utf-8")


def generate(root: Path, n: int, sweep: str = "bench", seed: int = 7) -> int:
    """``n`` cells: 10 groups × tasks × 5 trials (tasks = n / 50)."""
    rng = random.Random(seed)
    groups = [(a, m) for a in ADAPTERS for m in MODELS]
    trials = 5
    tasks = [f"{CATEGORIES[i % 3]}/{LANGS[i % 5]}-task-{i:03d}" for i in range(max(1, n // (len(groups) * trials)))]
    count = 0
    for task in tasks:
        for adapter, model in groups:
            for trial in range(1, trials + 1):
                if count >= n:
                    return count
                make_cell(root, sweep, adapter, model, task, trial, rng)
                count += 1
    return count


def time_report(results: Path, site: Path, runs: int = 3, fresh: bool = True) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + system, workers included) of ``cab report`` in a fresh process.

    ``fresh`` deletes the site first (untimed).  CPU time is printed beside wall time because on a
    shared machine the wall clock mostly measures the neighbours.
    """
    walls, cpus = [], []
    for _ in range(runs):
        if fresh and site.exists():
            shutil.rmtree(site)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([CAB, "report", str(results), "--out", str(site)], check=True, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return walls, cpus


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:
        return ""


def time_leaderboard(page_path: Path, runs: int = 3) -> list[float]:
    """Navigation start → first frame after the page's scripts ran, in seconds, cold each time."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(runs):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(page_path.resolve().as_uri(), wait_until="load")
                ms = page.evaluate("""() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(
                    () => done({ready: document.documentElement.getAttribute('data-ready'), now: performance.now(),
                                 rows: document.querySelectorAll('table.board tbody tr').length}))))""")
                assert ms["ready"] == "1" and ms["rows"] > 0, ms
                times.append(ms["now"] / 1000)
                context.close()
        finally:
            browser.close()
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="cells to generate (default 2000)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measurement")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="cab-report-bench-"))
    results, site = work / "results", work / "site"
    try:
        if results.exists():
            shutil.rmtree(results)
        t0 = time.perf_counter()
        n = generate(results, args.n)
        print(f"generated {n} cells in {time.perf_counter() - t0:.1f} s under {results}")
        print(f"machine: {_load()}")
        write, cpu = time_report(results, site)
        pages = sum(1 for _ in site.rglob("index.html"))
        size = sum(p.stat().st_size for p in site.rglob("*.html")) / 1e6
        med = statistics.median(write)
        ok = med < WRITE_BUDGET_S
        print(f"cab report (fresh site): median {med:.2f} s of {', '.join(f'{t:.2f}' for t in write)} wall, "
              f"median {statistics.median(cpu):.2f} s CPU ({pages} pages, {size:.0f} MB of HTML) — "
              f"budget {WRITE_BUDGET_S:.0f} s: {'ok' if ok else 'OVER'}")
        again, cpu = time_report(results, site, fresh=False)
        print(f"cab report (rebuild over the same site): median {statistics.median(again):.2f} s wall of "
              f"{', '.join(f'{t:.2f}' for t in again)}, median {statistics.median(cpu):.2f} s CPU")
        print(f"machine: {_load()}")
        if not args.no_browser:
            sweep_page = next(site.glob("sweeps/*/index.html"))
            render = time_leaderboard(sweep_page)
            rmed = statistics.median(render)
            rok = rmed < RENDER_BUDGET_S
            kb = sweep_page.stat().st_size / 1e3
            print(f"leaderboard load-to-rendered in Chromium: median {rmed:.3f} s of "
                  f"{', '.join(f'{t:.3f}' for t in render)} (sweep page {kb:.0f} KB) — budget {RENDER_BUDGET_S:.0f} s: "
                  f"{'ok' if rok else 'OVER'}")
            ok = ok and rok
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
