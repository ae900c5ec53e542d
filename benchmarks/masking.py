"""How long masking takes on adversarial text: 8 MB of each shape that made masking slow.

Each case is 8 MB of one repeated unit, chosen to defeat a regular-expression
masker: ``-----BEGIN PRIVATE KEY-----`` without an end marker (every begin used to
scan to the end of the text), runs of ``eyJ`` (a JWT prefix whose body never
ends), near-miss ``sk-`` keys, ``Bearer`` without a token, a single 8 MB base64
run, real keys back to back (one mask every 28 bytes), and plain prose.  Prints
the seconds per case (best of ``--repeat``), each through a fresh
:class:`~cab_core.secrets.Redactor` with two known secret values.

Goal: every case under 1 s on the project's 2-core machine.

    python benchmarks/masking.py            # 8 MB per case
    python benchmarks/masking.py --mb 1 --json
"""

from __future__ import annotations

import argparse
import json
import time

from cab_core.secrets import MASK, Redactor

CASES = {
    "begin-no-end": "-----BEGIN PRIVATE KEY----- ",
    "pem-short-bodies": "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n",
    "jwt-prefix-run": "eyJ",
    "jwt-near-miss": "eyJaaaaaaaaaaaaa.eyJbbbbbbbbbbbbbbbb ",
    "sk-near-miss": "sk-aaaaaaaaaaaa ",
    "sk-run": "sk-",
    "bearer-no-token": "Bearer ",
    "base64-run": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo",
    "keys-back-to-back": " sk-aaaaaaaaaaaaaaaaaaaaaaaa",
    "secret-values": "hunter2-but-longer x ",
    "prose": "The quick brown fox jumps over the lazy dog. ",
}


def run(megabytes: float, repeat: int) -> dict:
    size = int(megabytes * (1 << 20))
    out = {}
    for name, unit in CASES.items():
        text = (unit * (size // len(unit) + 1))[:size]
        best = float("inf")
        for _ in range(repeat):
            redact = Redactor(["hunter2-but-longer", "another-secret-value"], include_environment=False)
            t0 = time.perf_counter()
            masked = redact(text)
            best = min(best, time.perf_counter() - t0)
        out[name] = {"seconds": round(best, 3), "masks": masked.count(MASK)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=8.0, help="megabytes of text per case (default 8)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is kept")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    results = run(args.mb, args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, row in results.items():
        print(f"{name:20s} {row['seconds']:7.3f} s   {row['masks']:>9,} masks")
    print(f"slowest: {max(r['seconds'] for r in results.values()):.3f} s for {args.mb:g} MB")


if __name__ == "__main__":
    main()
