"""What each kind of ``cab`` invocation imports before it does its work (issue 16: start-up).

Each check runs in a fresh interpreter and names the modules that must not be
loaded yet: ``cab --help`` and ``--version`` need neither pluggy nor the records;
loading every plugin (``cab plugins``, ``cab tasks``, a sweep before its first cell)
needs neither the runner nor the proxy's aiohttp.  The lazy exports keep every name
importable as before.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _loaded_after(code: str, banned: tuple[str, ...]) -> list[str]:
    """The ``banned`` module prefixes that are in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import sys
        banned = {banned!r}
        print("LOADED:" + ",".join(sorted({{m for m in sys.modules for b in banned if m == b or m.startswith(b + ".")}})))
    """)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    line = proc.stdout.rsplit("LOADED:", 1)[-1].strip()
    return [m for m in line.split(",") if m]


def test_help_and_version_load_no_records_and_no_pluggy():
    code = """
        from cab_core.cli import main
        for argv in (["--help"], ["--version"], ["sweep", "--help"]):
            try:
                main(argv)
            except SystemExit:
                pass
    """
    assert _loaded_after(code, ("pluggy", "cab_core.models", "cab_core.runner", "aiohttp", "attrs")) == []


def test_loading_every_plugin_imports_no_runner_and_no_aiohttp():
    code = """
        from cab_core.plugins import get_plugin_manager
        from cab_core.registry import Registry
        registry = Registry(get_plugin_manager())
        for kind in ("adapters", "scorers", "task_sources", "sandboxes", "executors"):
            list(getattr(registry, kind))
    """
    assert _loaded_after(code, ("cab_core.runner", "cab_core.aioserver", "cab_core.endpoint.proxy", "aiohttp")) == []


def test_a_sweep_spec_and_its_plan_import_no_runner():
    code = """
        from cab_core.sweep import build_spec, plan_cells, read_manifest, MANIFEST_FILE
        spec = build_spec({}, {}, {"sweep_id": "s", "adapters": ["command"], "models": ["oracle"], "tasks": ["x"]})
        assert len(plan_cells(spec, ["a/b"])) == 1 and MANIFEST_FILE == "sweep.json"
    """
    assert _loaded_after(code, ("cab_core.runner", "aiohttp")) == []


@pytest.mark.parametrize("module, names", [
    ("cab_core", ("hookimpl", "Task", "CellResult", "AGGREGATIONS", "Scorer", "__version__")),
    ("cab_core.sweep", ("run_sweep", "SweepReport", "MANIFEST_FILE", "normalise", "build_spec", "sweep_lock")),
    ("cab_core.endpoint", ("RecordingProxy", "BackgroundServer", "ProxyLimits", "EndpointError", "classify_status",
                           "INFRA_ERROR_KINDS", "protocol_for", "register_protocol")),
])
def test_lazy_exports_are_all_importable(module, names):
    mod = __import__(module, fromlist=["_"])
    for name in (*names, *getattr(mod, "__all__", ())):
        assert getattr(mod, name) is not None, name
        assert name in dir(mod)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(mod, "nope")


def test_from_import_of_a_missing_name_is_an_import_error():
    with pytest.raises(ImportError):
        exec("from cab_core import NoSuchRecord", {})


def test_every_lazily_compiled_forgery_rule_compiles():
    """Rules compile on first use: a broken pattern must still fail here, not in some cell of some language."""
    import re

    from cab_core.workspace import forgery

    found = []

    def walk(value):
        if isinstance(value, forgery._LazyPattern):
            found.append(value)
        elif isinstance(value, (tuple, list)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for value in vars(forgery).values():
        walk(value)
    assert len(found) > 50
    for pattern in found:
        re.compile(pattern.source)
    tty = forgery._ANY[0][1]
    assert tty.search("echo hi > /dev/tty") and tty.search("echo hi > /dev/tty")  # compiled once, then reused
    assert tty.search("nothing to see") is None


_LEAVE = """
import atexit, sys, threading, time
from pathlib import Path
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.2)
    (out / "thread").write_text("joined")
threading.Thread(target=late).start()
sys.stdout.write("buffered, not yet flushed ")
sys.argv = ["cab", *sys.argv[2:]]
from cab_core.cli import main
main()
"""


@pytest.mark.parametrize("full", ["", "1"])
@pytest.mark.parametrize("argv, code, shown", [(["--version"], 0, "version 0.1.0"), (["nosuch"], 2, "No such command")])
def test_the_cab_script_leaves_as_the_interpreter_would(tmp_path, full, argv, code, shown):
    """Threads joined, atexit handlers run, output flushed, the status kept: with and without the quick exit."""
    import os

    proc = subprocess.run([sys.executable, "-c", _LEAVE, str(tmp_path), *argv], capture_output=True, text=True,
                          env={**os.environ, "CAB_FULL_EXIT": full})
    assert proc.returncode == code, proc.stderr
    assert "buffered, not yet flushed" in proc.stdout and shown in proc.stdout + proc.stderr
    assert (tmp_path / "atexit").read_text() == "ran" and (tmp_path / "thread").read_text() == "joined"


_GC_PROBE = """
import atexit, gc, json, sys
import cab_core.plugins as plugins
seen = {}
real = plugins.get_plugin_manager
def load(*a, **k):
    seen["collecting while plugins load"] = gc.get_threshold()[0]
    return real(*a, **k)
plugins.get_plugin_manager = load
atexit.register(lambda: print("GC:" + json.dumps({**seen, "collecting after": gc.get_threshold()[0],
                                                  "frozen": gc.get_freeze_count() > 0})))
from cab_core.cli import main
if sys.argv[1] == "script":
    sys.argv = ["cab", "plugins", "--json"]
    main()
else:
    try:
        main(["plugins", "--json"])
    except SystemExit:
        pass
"""


@pytest.mark.parametrize("how, held", [("script", True), ("argv", False)])
def test_collection_is_rare_while_the_cab_script_starts_and_as_usual_after(how, held):
    proc = subprocess.run([sys.executable, "-c", _GC_PROBE, how], capture_output=True, text=True, check=True)
    import json

    seen = json.loads(proc.stdout.rsplit("GC:", 1)[1])
    from cab_core.cli import START_THRESHOLD

    usual = 700  # Python's default
    assert seen == {"collecting while plugins load": START_THRESHOLD if held else usual, "collecting after": usual,
                    "frozen": held}


def test_every_key_shape_compiles_and_none_is_compiled_at_import():
    """Key shapes compile when their head is first seen: a broken pattern must still fail here, not in a cell."""
    import re

    from cab_core import secrets

    for head, pattern in secrets._PATTERNS:
        assert re.compile(pattern).pattern.startswith(re.escape(head)), head
    sample = "sk-" + "a" * 20
    assert secrets.mask_keys(sample) == secrets.MASK
    code = "import cab_core.secrets as s\nprint(s._compiled.cache_info().currsize)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "0"
