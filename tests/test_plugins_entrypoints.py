"""The ``cab`` entry points kept beside the virtual environment (issue 16: :mod:`cab_core.entrypoints`).

Each check runs in a fresh interpreter with its own folder on ``PYTHONPATH``, as a
distribution installed there would be seen: what the cache returns must always be
what importlib.metadata would return now.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cab_core import entrypoints

_LIST = """
import json, sys
from cab_core import entrypoints
found = entrypoints.entry_points("cab")
print(json.dumps({"eps": [[e.name, e.value, e.distribution, e.version] for e in found],
                  "scanned": "importlib.metadata" in sys.modules}))
"""


def _listed(site: Path, **env) -> dict:
    proc = subprocess.run([sys.executable, "-c", _LIST], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(site), **env})
    return json.loads(proc.stdout)


def _dist(site: Path, name: str, entry_points: str, version: str = "1.0") -> Path:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)
    return info


def _ours(listing: dict) -> list:
    return [e for e in listing["eps"] if e[2] and e[2].startswith("cab-zz")]


@pytest.fixture
def site(tmp_path):
    if entrypoints.cache_file() is None:
        pytest.skip("not in a virtual environment: nothing is kept")
    return tmp_path / "site"


def test_the_second_start_reads_the_kept_entry_points_without_importlib_metadata(site):
    _dist(site, "cab_zz_one", "[cab]\nzz-one = cab_zz_one\n")
    first = _listed(site)
    second = _listed(site)
    assert _ours(first) == [["zz-one", "cab_zz_one", "cab-zz-one", "1.0"]]
    assert first["eps"] == second["eps"] and not second["scanned"]
    assert {e[0] for e in second["eps"]} >= {"command", "native", "pass_rate"}


def test_installing_editing_upgrading_and_removing_a_distribution_is_seen_at_once(site):
    one = _dist(site, "cab_zz_one", "[cab]\nzz-one = cab_zz_one\n")
    assert [e[0] for e in _ours(_listed(site))] == ["zz-one"]
    two = _dist(site, "cab_zz_two", "[cab]\nzz-two = cab_zz_two:plugin\n")  # installed
    assert sorted(e[0] for e in _ours(_listed(site))) == ["zz-one", "zz-two"]
    (two / "entry_points.txt").write_text("[cab]\nzz-two = cab_zz_two.other:plugin\n")  # edited in place
    assert ["zz-two", "cab_zz_two.other:plugin"] in [e[:2] for e in _ours(_listed(site))]
    os.rename(one, site / "cab_zz_one-2.0.dist-info")  # upgraded: a new folder
    (site / "cab_zz_one-2.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: cab-zz-one\nVersion: 2.0\n")
    assert ["zz-one", "cab_zz_one", "cab-zz-one", "2.0"] in _ours(_listed(site))
    import shutil

    shutil.rmtree(two)  # removed
    assert [e[0] for e in _ours(_listed(site))] == ["zz-one"]


def test_a_damaged_file_is_read_afresh_and_rewritten(site):
    _dist(site, "cab_zz_one", "[cab]\nzz-one = cab_zz_one\n")
    _listed(site)
    path = entrypoints.cache_file()
    path.write_text("{not json")
    listing = _listed(site)
    assert listing["scanned"] and [e[0] for e in _ours(listing)] == ["zz-one"]
    assert json.loads(path.read_text())["version"] == entrypoints.CACHE_VERSION
    assert not _listed(site)["scanned"]


def test_without_the_cache_every_start_reads_them(site):
    _dist(site, "cab_zz_one", "[cab]\nzz-one = cab_zz_one\n")
    _listed(site)
    assert _listed(site, CAB_NO_ENTRY_POINT_CACHE="1")["scanned"]


def test_an_entry_point_loads_as_importlib_metadatas_would(tmp_path, monkeypatch):
    (tmp_path / "zz_mod.py").write_text("class K:\n    class Inner:\n        pass\nVALUE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from importlib import metadata

    for value in ("zz_mod", "zz_mod:VALUE", "zz_mod:K.Inner", "zz_mod:K [extra]"):
        ours = entrypoints.EntryPoint("x", value, "cab", None, None).load()
        assert ours is metadata.EntryPoint("x", value, "cab").load()
    with pytest.raises(ValueError, match="not a module"):
        entrypoints.EntryPoint("x", "not a value!", "cab", None, None).load()


_VERSION = """
import json, sys
from cab_core import entrypoints
print(json.dumps({"version": entrypoints.version(sys.argv[1]), "scanned": "importlib.metadata" in sys.modules}))
"""


def _version(site: Path, name: str, **env) -> dict:
    proc = subprocess.run([sys.executable, "-c", _VERSION, name], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(site), **env})
    return json.loads(proc.stdout)


def test_a_distributions_version_is_kept_and_seen_to_change(site):
    info = _dist(site, "cab_zz_prices", "")
    assert _version(site, "cab-zz-prices") == {"version": "1.0", "scanned": True}
    assert _version(site, "cab-zz-prices") == {"version": "1.0", "scanned": False}  # kept: no importlib.metadata
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cab-zz-prices\nVersion: 1.0.post1\n")  # edited in place
    assert _version(site, "cab-zz-prices")["version"] == "1.0.post1"
    os.rename(info, site / "cab_zz_prices-2.0.dist-info")  # upgraded
    (site / "cab_zz_prices-2.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: cab-zz-prices\nVersion: 2.0\n")
    assert _version(site, "cab-zz-prices")["version"] == "2.0"
    import shutil

    shutil.rmtree(site / "cab_zz_prices-2.0.dist-info")  # removed
    assert _version(site, "cab-zz-prices") == {"version": None, "scanned": True}
    assert _version(site, "cab-zz-prices") == {"version": None, "scanned": False}
    assert _version(site, "cab-zz-prices", CAB_NO_ENTRY_POINT_CACHE="1")["scanned"]
    assert _listed(site)["eps"] == _listed(site)["eps"]  # the entry points beside the versions, unharmed


def test_a_version_asked_after_the_plugins_uses_the_stamp_they_computed(site, monkeypatch):
    entrypoints.entry_points("cab")
    expected = entrypoints.version("cab-core")
    computed = []
    monkeypatch.setattr(entrypoints, "stamp", lambda: computed.append(1) or "another")
    assert entrypoints.version("cab-core") == expected and computed == []
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])  # another sys.path: stamped afresh
    entrypoints.version("cab-core")
    assert computed == [1]


def test_the_entry_points_and_a_version_kept_under_one_stamp_do_not_push_each_other_out(site):
    _dist(site, "cab_zz_one", "[cab]\nzz-one = cab_zz_one\n")
    _listed(site)
    _version(site, "cab-zz-one")
    assert not _listed(site)["scanned"]  # the entry points still kept beside the version
    assert _version(site, "cab-zz-one") == {"version": "1.0", "scanned": False}
