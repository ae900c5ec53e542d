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

_REPORT = os.environ.pop("CAB_VERDICT_REPORT", "")
_NONCE_FILE = os.environ.pop("CAB_VERDICT_NONCE", "")
_KEY = b""
if _NONCE_FILE:
    try:
        with open(_NONCE_FILE, "rb") as _fh:
            _KEY = _fh.read().strip()
        os.unlink(_NONCE_FILE)
    except OSError:
        _KEY = b""
_RESULTS = {}
_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "xpassed": 2, "failed": 3, "error": 4}


def _note(nodeid, outcome):
    previous = _RESULTS.get(nodeid)
    if previous is None or _RANK[outcome] > _RANK[previous]:
        _RESULTS[nodeid] = outcome


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
    if not _REPORT:
        return
    lines = [json.dumps({"id": nodeid, "outcome": outcome}) for nodeid, outcome in _RESULTS.items()]
    body = "".join(line + "\n" for line in lines).encode()
    end = {"end": True, "count": len(lines), "exitstatus": int(exitstatus),
           "mac": hmac.new(_KEY, body, hashlib.sha256).hexdigest()}
    with open(_REPORT, "wb") as fh:
        fh.write(body + json.dumps(end).encode() + b"\n")
