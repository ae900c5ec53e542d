"""How much latency the recording proxy adds to a model call, and what it does to throughput.

Starts the scripted model server and a recording proxy in front of it, then makes N
non-streaming and N streaming chat completions directly and through the proxy,
interleaved (direct, proxied, direct, ... with the order swapped every other round so
neither side always goes first).  Each call is one keep-alive HTTP request from a
plain ``http.client`` connection, timed from sending to the last byte read.

Prints, per mode: median latency direct and proxied, the median of the paired
differences (the added latency per call), p90 of that difference, and sequential
throughput (calls/s) direct vs proxied with their ratio.  The goal is under 1 ms added
at the median for non-streaming calls.

    python benchmarks/proxy_overhead.py            # N=300
    python benchmarks/proxy_overhead.py -n 1000 --model scripted/refuse
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from urllib.parse import urlsplit

from cab_core.modelserver import ScriptContext, ScriptedModelServer
from cab_core.proxy import RecordingProxy

#: A pi-like request: a system prompt of a few KB, the agent's tools, one user turn.
SYSTEM = "You are a coding agent working in a repository.\nCurrent working directory: /work/cell\n" + (
    "Follow the project's conventions; run the tests before you finish.\n" * 40
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {"type": "object", "properties": {k: {"type": "string"} for k in props}, "required": list(props)},
        },
    }
    for name, props in (
        ("read", ("path",)),
        ("bash", ("command",)),
        ("edit", ("path", "oldText", "newText")),
        ("write", ("path", "content")),
    )
]
SOLUTION = {"src/calc.py": "def add(a, b):\n    return a + b\n\n\n" + "# padding line for a realistic file size\n" * 25}


class Client:
    """One keep-alive HTTP/1.1 connection that posts chat completions and reads each response whole."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.path = parts.path.rstrip("/") + "/chat/completions"
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def call(self, body: bytes) -> float:
        t0 = time.perf_counter()
        headers = {"Content-Type": "application/json", "Authorization": "Bearer dummy"}
        self.conn.request("POST", self.path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - t0
        if response.status != 200 or not data:
            raise SystemExit(f"call failed: HTTP {response.status}: {data[:200]!r}")
        return elapsed

    def close(self) -> None:
        self.conn.close()


def measure(direct: Client, proxied: Client, body: bytes, n: int, warmup: int) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        direct.call(body)
        proxied.call(body)
    d, p = [], []
    for i in range(n):
        if i % 2:
            p.append(proxied.call(body))
            d.append(direct.call(body))
        else:
            d.append(direct.call(body))
            p.append(proxied.call(body))
    return d, p


def report(label: str, direct: list[float], proxied: list[float]) -> dict:
    diffs = sorted((b - a) * 1000 for a, b in zip(direct, proxied))
    result = {
        "mode": label,
        "calls": len(direct),
        "direct_median_ms": statistics.median(direct) * 1000,
        "proxied_median_ms": statistics.median(proxied) * 1000,
        "added_median_ms": statistics.median(diffs),
        "added_p90_ms": diffs[int(0.9 * (len(diffs) - 1))],
        "direct_calls_per_s": len(direct) / sum(direct),
        "proxied_calls_per_s": len(proxied) / sum(proxied),
    }
    result["throughput_ratio"] = result["proxied_calls_per_s"] / result["direct_calls_per_s"]
    print(
        f"{label:<14} median direct {result['direct_median_ms']:6.3f} ms  proxied {result['proxied_median_ms']:6.3f} ms  "
        f"added {result['added_median_ms']:6.3f} ms (p90 {result['added_p90_ms']:6.3f})  "
        f"throughput {result['direct_calls_per_s']:7.1f} -> {result['proxied_calls_per_s']:7.1f} calls/s "
        f"(ratio {result['throughput_ratio']:.2f})"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="calls per mode and side (default 300)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--model", default="scripted/oracle", help="scripted behaviour to call (default scripted/oracle)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)

    ctx = ScriptContext(task_id="bench/calc", solution_files=SOLUTION)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Fix add() in src/calc.py."}]
    plain = {"model": args.model, "messages": messages, "tools": TOOLS}
    bodies = {
        "non-streaming": json.dumps(plain).encode(),
        "streaming": json.dumps({**plain, "stream": True}).encode(),
    }
    results = []
    with ScriptedModelServer(ctx) as server, RecordingProxy(server.base_url, "sk-bench") as proxy:
        direct, proxied = Client(server.base_url), Client(proxy.base_url)
        print(f"{args.n} calls per mode and side, model {args.model}, request {len(bodies['streaming'])} bytes")
        try:
            for label, body in bodies.items():
                results.append(report(label, *measure(direct, proxied, body, args.n, args.warmup)))
        finally:
            direct.close()
            proxied.close()
        recorded = proxy.calls
    expected = 2 * (args.n + args.warmup)
    if len(recorded) != expected or any(c.error_kind for c in recorded):
        print(f"unexpected recording: {len(recorded)} calls (expected {expected})", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
