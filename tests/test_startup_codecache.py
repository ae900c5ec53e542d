"""attrs' generated methods, their bytecode kept between starts (issue 16: :mod:`cab_core.codecache`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cab_core import codecache

_COMPARE = """
import json, sys
from cab_core import codecache
assert codecache.install()
from attr import _make
attrs_own = _make._compile_and_eval.__wrapped__  # attrs' function, compiling as attrs does
checked = []
real = codecache._code
def compare(script, filename):
    ours = real(script, filename)
    captured = []
    _make.eval = lambda code, globs=None, locs=None: captured.append(code)  # attrs' eval, captured
    try:
        attrs_own(script, {}, {}, filename)
    finally:
        del _make.eval
    theirs = captured[0]
    checked.append(ours == theirs and ours.co_filename == theirs.co_filename and ours.co_flags == theirs.co_flags)
    return ours
codecache._code = compare
import cab_core.cli
from cab_core import serialization, scoring
import cab_core.sweep.run, cab_core.runner
from cab_core.plugins import get_plugin_manager
get_plugin_manager()
from cab_core.models import CellResult, Span, Task
print(json.dumps({"checked": len(checked), "all_equal": all(checked), "new": codecache._STATE["new"]}))
"""


def _run(code: str, **env) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def venv():
    if codecache.cache_path() is None:
        pytest.skip("not in a virtual environment: nothing is kept")


def test_kept_code_is_the_code_this_process_would_compile(venv):
    """Compiled afresh and read back from the file: equal, code object for code object, with this process's seed."""
    first = _run(_COMPARE, PYTHONHASHSEED="1")
    second = _run(_COMPARE, PYTHONHASHSEED="1")  # the same seeds: every script's code read back
    assert first["checked"] > 40 and first["all_equal"]
    assert second["checked"] == first["checked"] and second["all_equal"] and second["new"] == 0
    for seed in ("2", "3", "4"):  # other seeds (of other lengths and signs): still the code attrs would make
        other = _run(_COMPARE, PYTHONHASHSEED=seed)
        assert other["all_equal"] and other["new"] < other["checked"]


def test_records_hash_and_compare_as_attrs_makes_them(venv):
    code = """
import json
from cab_core import codecache
codecache.install()
from cab_core.models import CellId, Mount
a, b = CellId(sweep="s", adapter="a", model="m", task="t"), CellId(sweep="s", adapter="a", model="m", task="t")
print(json.dumps({"eq": a == b, "hash": hash(a) == hash(b), "set": len({a, b}), "repr": repr(a),
                  "other": hash(CellId(sweep="x", adapter="a", model="m", task="t")) != hash(a)}))
"""
    out = _run(code)
    assert out == {"eq": True, "hash": True, "set": 1, "repr": out["repr"], "other": True}
    assert out["repr"].startswith("CellId(sweep='s'")
    assert _run(code, CAB_NO_CODE_CACHE="1") == out


def test_a_damaged_file_is_compiled_afresh(venv):
    path = codecache.cache_path()
    _run(_COMPARE, PYTHONHASHSEED="5")
    path.write_bytes(b"not a cache")
    out = _run(_COMPARE, PYTHONHASHSEED="5")
    assert out["all_equal"] and out["new"] > 40
    assert _run(_COMPARE, PYTHONHASHSEED="5")["new"] == 0


def test_the_seed_is_found_only_where_attrs_put_it():
    script = "def __hash__(self):\n    return hash((\n        {seed},\n        self.a,\n    ))\n"
    filename = "<attrs generated methods pkg.mod.Cls>"
    seed = hash("<attrs generated hash pkg.mod.Cls>")
    assert codecache._seed(script.format(seed=seed), filename) == seed
    assert codecache._seed(script.format(seed=seed), "<attrs generated methods pkg.mod.Cls-2>") == seed
    assert codecache._seed(script.format(seed=seed + 1), filename) is None
    assert codecache._seed(script.format(seed=seed), "<not attrs>") is None
    assert codecache._seed("        7,", "<attrs generated methods m.C>") is None or hash("<attrs generated hash m.C>") != 7
    for value in (seed, -abs(seed), abs(seed), 12345, -71, 3):
        sentinel = codecache._sentinel(value)
        assert len(str(sentinel)) == len(str(value)) and sentinel != value and sentinel > 0
        code = compile(script.format(seed=sentinel), filename, "exec")
        assert codecache._with_constant(code, sentinel, value) == compile(script.format(seed=value), filename, "exec")
