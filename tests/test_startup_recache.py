"""Regular expressions compiled once and kept between starts (issue 16: :mod:`cab_core.recache`)."""

from __future__ import annotations

import re
import sys

import pytest
from conftest import run_python_json

from cab_core import recache

_COMPARE = """
import json, re, sys
from cab_core import recache
assert recache.install()
real = re._compiler.compile.__wrapped__
checked = []
kept = re._compiler.compile
def compare(p, flags=0):
    ours = kept(p, flags)
    theirs = real(p, flags)
    checked.append(ours == theirs and ours.groupindex == theirs.groupindex and ours.groups == theirs.groups
                   and ours.flags == theirs.flags and ours.pattern == theirs.pattern)
    return ours
compare._cab_kept = True  # installed: cab_core.cli's own install() leaves it in place
re._compiler.compile = compare
import cab_core.cli
from cab_core import serialization, scoring
import cab_core.sweep.run, cab_core.runner, cab_core.modelserver, cab_core.proxy, cab_core.secrets
from cab_core.plugins import get_plugin_manager
get_plugin_manager()
assert re.compile(rb"(?P<x>a+)\\\\d").match(b"aa\\\\d").group("x") == b"aa"  # bytes and a named group
print(json.dumps({"checked": len(checked), "all_equal": all(checked), "new": recache._KEPT.new}))
"""


_run = run_python_json


@pytest.fixture
def venv(tmp_path, monkeypatch):
    if recache._KEPT.path() is None or not (3, 11) <= sys.version_info[:2] <= (3, 13):
        pytest.skip("not in a virtual environment, or a Python whose re this does not know: nothing is kept")
    monkeypatch.setenv("CAB_KEPT_DIR", str(tmp_path))  # a file of its own: other cab processes write the venv's
    # the same imports every run (a stale entry-point cache is rebuilt through importlib.metadata's patterns)
    monkeypatch.setenv("CAB_NO_ENTRY_POINT_CACHE", "1")


def test_kept_patterns_are_the_patterns_re_compiles(venv):
    """Compiled afresh, then read back from the file: equal to re's own, engine code for engine code."""
    recache._KEPT.path().unlink(missing_ok=True)
    first = _run(_COMPARE)
    second = _run(_COMPARE)
    assert first["checked"] > 50 and first["all_equal"] and first["new"] > 50
    assert second["checked"] == first["checked"] and second["all_equal"] and second["new"] == 0
    mtime = recache._KEPT.path().stat().st_mtime_ns
    _run(_COMPARE)
    assert recache._KEPT.path().stat().st_mtime_ns == mtime  # a warm start writes nothing


def test_a_bad_pattern_is_re_s_own_error_and_debug_is_not_kept(venv):
    code = """
import json, re
from cab_core import recache
recache.install()
try:
    re.compile("(unclosed")
    error = None
except re.error as exc:
    error = str(exc)
re.compile("x+y", re.DEBUG)
print(json.dumps({"error": error, "new": recache._KEPT.new, "debug": any(k[1] == "x+y" for k in recache._KEPT.codes or {})}))
"""
    out = _run(code)
    assert out["error"] == "missing ), unterminated subpattern at position 0"
    assert out["debug"] is False


def test_a_damaged_file_is_compiled_afresh(venv):
    path = recache._KEPT.path()
    _run(_COMPARE)
    path.write_bytes(b"not a cache")
    out = _run(_COMPARE)
    assert out["all_equal"] and out["new"] > 50
    assert _run(_COMPARE)["new"] == 0


def test_turned_off_nothing_is_wrapped():
    code = "import json, re\nfrom cab_core import recache\nprint(json.dumps({'on': recache.install()}))"
    assert _run(code, CAB_NO_RE_CACHE="1") == {"on": False}


def test_kept_arguments_are_what_re_hands_its_engine():
    compiled = re.compile("(?P<a>x)(y)?", re.I)
    args = recache._arguments(re._compiler, "(?P<a>x)(y)?", re.I.value)
    assert re._compiler._sre.compile("(?P<a>x)(y)?", *args) == compiled
    assert recache._unmarshal(b"junk") is None and recache._unmarshal(None) is None
