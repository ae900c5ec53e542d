"""cab's pytest reporter: one line per test outcome, written to the file the harness names.

Loaded by ``-p`` under a module name fresh per cell, before any test module is
imported.  At import it takes the report path and the nonce from the environment,
deletes the nonce file and the variables, so code under test (imported later) can
neither read the nonce nor find it in ``os.environ``.  At the end of the session the
report is written in one go and closed by an ``end`` line carrying an HMAC of every
line above it, keyed by the nonce: a report written, extended or rewritten by anyone
else does not verify.  A process that ends before the session finishes writes no
report at all.  This file runs inside the test runtime: standard library only.
"""

import hashlib
import hmac
import json
import os


def _take_secrets():
    report = os.environ.pop("CAB_VERDICT_REPORT", "")
    nonce_file = os.environ.pop("CAB_VERDICT_NONCE", "")
    key = b""
    if nonce_file:
        try:
            with open(nonce_file, "rb") as fh:
                key = fh.read().strip()
            os.unlink(nonce_file)
        except OSError:
            key = b""
    return report, key


def _recorder():
    """The hooks, closing over the report path, the key and the results (no module globals to read)."""
    report_path, key = _take_secrets()
    results = {}
    rank = {"passed": 0, "skipped": 1, "xfailed": 1, "xpassed": 2, "failed": 3, "error": 4}

    def note(nodeid, outcome):
        previous = results.get(nodeid)
        if previous is None or rank[outcome] > rank[previous]:
            results[nodeid] = outcome

    def finish(exitstatus):
        if not report_path:
            return
        lines = [json.dumps({"id": nodeid, "outcome": outcome}) for nodeid, outcome in results.items()]
        body = "".join(line + "\n" for line in lines).encode()
        end = {"end": True, "count": len(lines), "exitstatus": int(exitstatus),
               "mac": hmac.new(key, body, hashlib.sha256).hexdigest()}
        with open(report_path, "wb") as fh:
            fh.write(body + json.dumps(end).encode() + b"\n")

    return note, finish


_note, _finish = _recorder()
del _recorder, _take_secrets


def pytest_runtest_logreport(report):
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            _note(report.nodeid, "xfailed" if report.skipped else "xpassed")
        else:
            _note(report.nodeid, report.outcome)
    elif report.failed:
        _note(report.nodeid, "error")
    elif report.skipped:
        _note(report.nodeid, "skipped")


def pytest_collectreport(report):
    if report.failed:
        _note(report.nodeid or "<collection>", "error")


def pytest_deselected(items):
    for item in items:
        _note(item.nodeid, "skipped")


def pytest_sessionfinish(session, exitstatus):
    _finish(exitstatus)
