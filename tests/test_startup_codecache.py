"""attrs' generated methods, their bytecode kept between starts (issue 16: :mod:`cab_core.codecache`)."""

from __future__ import annotations


import pytest
from conftest import run_python_json

from cab_core import codecache
from cab_core.codelocations import relocated

_COMPARE = """
import json, sys
from cab_core import codecache
from cab_core.codelocations import relocated
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
print(json.dumps({"checked": len(checked), "all_equal": all(checked), "new": codecache._KEPT.new}))
"""


_run = run_python_json


@pytest.fixture
def venv(tmp_path, monkeypatch):
    if codecache.cache_path() is None:
        pytest.skip("not in a virtual environment: nothing is kept")
    monkeypatch.setenv("CAB_KEPT_DIR", str(tmp_path))  # a file of its own: other cab processes write the venv's


def test_kept_code_is_the_code_this_process_would_compile(venv):
    """Compiled afresh and read back from the file: equal, code object for code object, with this process's seed."""
    first = _run(_COMPARE, PYTHONHASHSEED="1")
    second = _run(_COMPARE, PYTHONHASHSEED="1")  # the same seeds: every script's code read back
    assert first["checked"] > 40 and first["all_equal"]
    assert second["checked"] == first["checked"] and second["all_equal"] and second["new"] == 0
    for seed in ("2", "3", "4", "5", "6"):  # other seeds (of other widths and signs): the code attrs would make,
        other = _run(_COMPARE, PYTHONHASHSEED=seed)  # read back: the kept code does not depend on the seed
        assert other["all_equal"] and other["checked"] == first["checked"] and other["new"] == 0, other


def test_records_hash_and_compare_as_attrs_makes_them(venv):
    code = """
import json
from cab_core import codecache
from cab_core.codelocations import relocated
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
    assert codecache._seed(script.format(seed=seed) + f"# {codecache.SENTINEL}", filename) is None


@pytest.mark.parametrize("script", [
    "def __hash__(self):\n        return hash((\n                {seed},\n                self.a,\n            ))\n",
    "def __hash__(self):\n        return hash((\n                {seed},\n            ))\n",  # one constant tuple
    "def __hash__(self, *, _w=None):\n        if self._h is None:\n                object.__setattr__(self, '_h', _w(hash((\n"
    "                        {seed},\n                        self.a, self.b,\n                    ))))\n        return self._h\n",
    "x = 1\n" * 70 + "def f(self):\n    return hash(({seed}, self.a, self.b))  # more after it on its line\n",
    "def f(self):\n" + "    " * 20 + "return hash(({seed}, self.a))\n",  # columns past 80 and 128
])
def test_code_kept_with_the_sentinel_is_the_code_of_a_seed_of_any_width(script):
    """One kept code object serves seeds of every width and sign: its constant and its columns moved."""
    kept = compile(script.format(seed=codecache.SENTINEL), "<attrs generated methods m.C>", "exec")
    for seed in [0, 7, -7, 9223372036854775807, -9223372036854775808,
                 *(10 ** k + 3 for k in range(19)), *(-(10 ** k) - 3 for k in range(19))]:
        text = script.format(seed=seed)
        line, column = codecache._position(text, str(seed))
        moved = relocated(codecache._with_constant(kept, codecache.SENTINEL, seed), line, column,
                          len(str(codecache.SENTINEL)), len(str(seed)), seed)
        assert moved == compile(text, "<attrs generated methods m.C>", "exec"), seed


def test_a_location_table_that_cannot_be_read_is_compiled_instead():
    script = "def f(self):\n    return hash(({seed}, self.a))\n"
    kept = compile(script.format(seed=codecache.SENTINEL), "<f>", "exec")
    inner = next(c for c in kept.co_consts if hasattr(c, "co_linetable"))
    broken = kept.replace(co_consts=tuple(inner.replace(co_linetable=inner.co_linetable[:-1]) if c is inner else c
                                          for c in kept.co_consts))
    seed = 123
    broken = codecache._with_constant(broken, codecache.SENTINEL, seed)
    assert relocated(broken, 2, 17, len(str(codecache.SENTINEL)), 3, seed) is None


_BUILTINS = (tuple, dict, list, frozenset, set, str, int, float, bool, bytes, len, abs, sorted)


def test_a_builtin_converter_has_no_annotation_as_attrs_reads_it():
    """What attrs reads of a built-in converter without inspect: no annotation, as inspect gives it."""
    from attr import _compat

    make = type("make", (), {"_AnnotationExtractor": _compat._AnnotationExtractor})
    codecache._patch_annotations(make)
    for builtin in _BUILTINS:
        assert codecache._is_builtin(builtin)
        real, fast = _compat._AnnotationExtractor(builtin), make._AnnotationExtractor(builtin)
        assert (real.get_first_param_type(), real.get_return_type()) == (None, None), builtin
        assert (fast.get_first_param_type(), fast.get_return_type()) == (None, None) and fast.sig is None
    assert not codecache._is_builtin(lambda v: v) and not codecache._is_builtin(type("T", (), {}))


def test_records_made_with_builtin_converters_never_parse_a_signature(venv):
    code = """
import json, tokenize
from cab_core import codecache
codecache.install()
import cab_core.models, cab_core.runoptions, cab_core.sweep.spec, cab_core.verdict, cab_core.validate
from cab_core.models import LaunchSpec
spec = LaunchSpec(argv=["a"], env={"K": "v"})
print(json.dumps({"compiled": tokenize._compile.cache_info().currsize, "argv": spec.argv, "env": dict(spec.env)}))
"""
    assert _run(code) == {"compiled": 0, "argv": ["a"], "env": {"K": "v"}}
    assert _run(code, CAB_NO_CODE_CACHE="1")["compiled"] > 0  # attrs' own path: tokenize's patterns compiled
