"""The plugin host: entry points, broken plugins, allow/block lists, duplicates, the CLI listings."""

import json
import os
import subprocess
import sys
import time

import pytest

from cab_core import Adapter, LaunchSpec, Scorer, AxisScore, hookimpl
from cab_core.errors import DuplicateNameError, UnknownNameError
from cab_core.registry import Registry

from conftest import CAB, ROOT, run_cab, run_cab_process


def test_plugins_json_lists_builtin_distributions(cab):
    proc = cab("plugins", "--json", check=True)
    rows = json.loads(proc.stdout)
    dists = {r["distribution"]: r["version"] for r in rows if r["distribution"]}
    assert {"cab-adapters", "cab-scorers", "cab-tasks"} <= set(dists)
    assert all(dists[d] == "0.1.0" for d in ("cab-adapters", "cab-scorers", "cab-tasks"))
    loaded = {r["name"]: r for r in rows}
    assert loaded["command"]["status"] == "loaded" and "cab_adapters" in loaded["command"]["hooks"]
    assert loaded["native"]["hooks"] == ["cab_task_sources"]


def _fake_distribution(site, name, module_source, ep_name):
    """A dynamically added distribution: a module plus a dist-info with one cab entry point."""
    (site / f"{name}.py").write_text(module_source)
    info = site / f"{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[cab]\n{ep_name} = {name}\n")


@pytest.mark.slow
def test_broken_plugin_is_listed_and_the_rest_still_works(tmp_path):
    _fake_distribution(tmp_path, "cab_broken_thing", "raise RuntimeError('boom at import')\n", "broken")
    env = {"PYTHONPATH": str(tmp_path)}
    proc = run_cab_process("plugins", env=env)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("broken"))
    assert "failed: RuntimeError: boom at import" in line
    assert "cab-broken-thing" in line and "1.2.3" in line
    assert "Traceback" not in proc.stdout + proc.stderr
    rows = json.loads(run_cab_process("plugins", "--json", env=env).stdout)
    broken = next(r for r in rows if r["name"] == "broken")
    assert broken["status"] == "failed" and "boom at import" in broken["error"]
    adapters = run_cab_process("adapters", env=env)
    assert adapters.returncode == 0
    assert "command" in adapters.stdout and "mini" in adapters.stdout
    assert adapters.stderr.count("\n") == 1 and "broken" in adapters.stderr  # one line of warning


def test_strict_mode_reraises(tmp_path):
    _fake_distribution(tmp_path, "cab_broken_two", "raise RuntimeError('strict boom')\n", "broken2")
    proc = run_cab_process("adapters", env={"PYTHONPATH": str(tmp_path), "CAB_STRICT_PLUGINS": "1"})
    assert proc.returncode != 0 and "strict boom" in proc.stderr


def test_allow_and_block_lists(cab):
    rows = json.loads(cab("plugins", "--json", env={"CAB_DISABLE_PLUGINS": "mini"}).stdout)
    assert next(r for r in rows if r["name"] == "mini")["status"] == "disabled"
    listed = cab("adapters", env={"CAB_DISABLE_PLUGINS": "mini"}).stdout.splitlines()[1:]
    assert "mini" not in [line.split()[0] for line in listed if line.strip()]
    out = cab("adapters", "--json", env={"CAB_LOAD_PLUGINS": "command"}).stdout
    assert [r["name"] for r in json.loads(out)] == ["command"]


@pytest.mark.slow
def test_core_imports_no_plugin():
    code = ("import cab_core, cab_core.cli, cab_core.runner, sys; "
            "assert not any(m.startswith(('cab_adapters','cab_scorers','cab_tasks')) for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_help_is_fast_and_loads_no_plugins():
    code = ("import sys; from cab_core.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert not any(m.startswith(('cab_adapters','cab_scorers','cab_tasks','aiohttp')) for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    proc = subprocess.run([CAB, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "cab run" in proc.stdout


class _Dup:
    @hookimpl
    def cab_adapters(self):
        return [Adapter(name="command", build_launch=lambda ctx: LaunchSpec(argv=["true"]))]


class _Dup2:
    @hookimpl
    def cab_adapters(self):
        return [Adapter(name="command", build_launch=lambda ctx: LaunchSpec(argv=["false"]))]


def test_duplicate_names_name_both_plugins(cab_pm, cab_register):
    with cab_register(_Dup(), name="first"), cab_register(_Dup2(), name="second"):
        with pytest.raises(DuplicateNameError) as err:
            Registry(cab_pm).adapters
    assert "'first'" in str(err.value) and "'second'" in str(err.value)


def test_unknown_name_lists_available(cab_pm, cab_register):
    with cab_register(_Dup(), name="first"):
        with pytest.raises(UnknownNameError) as err:
            Registry(cab_pm).adapters.get("pii")
    assert str(err.value) == "unknown adapter 'pii' (available: command)"


def test_unknown_adapter_on_the_cli(cab):
    # The example adapter (examples/, installed by setup) is left out.
    proc = cab("run", "--adapter", "pii", "--model", "x", "--task", "polyglot/rust-error-handling",
               env={"CAB_DISABLE_PLUGINS": "example-shell"})
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert line.startswith("Error: unknown adapter 'pii', did you mean 'pi'? (available: ") and "\n" not in line, line
    names = line.split("(available: ", 1)[1].rstrip(")").split(", ")  # more adapters come with new agents
    assert names == sorted(names) and {"aider", "command", "mini", "opencode", "pi"} <= set(names), line


class _RaisingProvider:
    @hookimpl
    def cab_scorers(self):
        raise ValueError("scorer list exploded")


def test_provider_hook_that_raises_is_reported_and_skipped(cab_pm, cab_register, cab_cli):
    class Good:
        @hookimpl
        def cab_scorers(self):
            return [Scorer(name="ok", score=lambda ctx: AxisScore(axis="ok", value=1.0))]

    with cab_register(_RaisingProvider(), name="exploding"), cab_register(Good(), name="good"):
        result = cab_cli("scorers")
    assert result.exit_code == 0
    assert "ok" in result.stdout
    assert "plugin 'exploding' failed to list scorers: ValueError: scorer list exploded" in result.stderr


def test_every_hook_is_documented_and_tested():
    import inspect

    from cab_core import hookspecs

    hooks = [n for n, f in vars(hookspecs).items() if n.startswith("cab_") and callable(f)]
    assert len(hooks) >= 8
    tests_text = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    for name in hooks:
        assert inspect.getdoc(getattr(hookspecs, name)), f"{name} has no docstring"
        assert name in tests_text, f"no test mentions {name}"


def test_cab_main_runs_the_command_line_in_process_like_the_script(cab_main, tmp_path):
    listing = cab_main("adapters", cwd=tmp_path)
    assert listing.returncode == 0 and "command" in listing.stdout
    wrong = cab_main("run", "-a", "nope", "-m", "x", "-t", "y", env={"CAB_DISABLE_PLUGINS": "mini"})
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.startswith("Error: unknown adapter 'nope' (available: ") and "mini" not in wrong.stderr.split("(available: ", 1)[1].rstrip(")\n").split(", ")
    assert os.getcwd() != str(tmp_path) and "CAB_DISABLE_PLUGINS" not in os.environ


def test_each_distributions_metadata_is_parsed_once_per_load(monkeypatch):
    """Parsing METADATA (the email parser) twice per entry point was a third of loading the plugins (issue 16)."""
    from importlib import metadata

    from cab_core import plugins

    monkeypatch.setenv("CAB_NO_ENTRY_POINT_CACHE", "1")  # read them afresh
    reads = []
    real = metadata.Distribution.metadata

    def counted(self):
        reads.append(str(getattr(self, "_path", self)))
        return real.fget(self)

    monkeypatch.setattr(metadata.Distribution, "metadata", property(counted))
    pm = plugins.PluginManager()
    plugins.load_entry_points(pm, strict=False)
    infos = [i for i in pm.load_report.values()]
    assert len(infos) > len(set(reads)) > 1  # several entry points share a distribution (cab-adapters)
    assert sorted(reads) == sorted(set(reads))
    adapters = pm.load_report["command"]
    assert (adapters.distribution, adapters.version) == ("cab-adapters", metadata.version("cab-adapters"))


def test_the_quick_hook_lookup_finds_what_pluggys_own_finds():
    """Every real plugin (and a module with every kind of attribute) registers the same hooks both ways."""
    import importlib
    import types

    import pluggy

    from cab_core import plugins

    odd = types.ModuleType("odd")
    exec("from cab_core import hookimpl\nimport os\nX = 1\nclass K: pass\n"
         "@hookimpl\ndef cab_adapters():\n    return []\n"
         "@hookimpl(specname='cab_scorers')\ndef scorers_under_another_name():\n    return []\n"
         "cab_task_sources = staticmethod(hookimpl(lambda: []))\n", odd.__dict__)
    found = [(ep.name, ep.load()) for ep, _ in plugins.iter_entry_points()]
    found += [(n, importlib.import_module(m)) for n, m in plugins.DEFAULT_PLUGINS] + [("odd", odd)]

    class Pluggys(plugins.PluginManager):
        parse_hookimpl_opts = pluggy.PluginManager.parse_hookimpl_opts

    def hooks(cls):
        pm = cls()
        for name, module in found:
            pm.register(module, name=name)
        return sorted((h.name, i.plugin_name, i.function.__name__) for h in vars(pm.hook).values()
                      if isinstance(h, pluggy.HookCaller) for i in h.get_hookimpls())

    ours = hooks(plugins.PluginManager)
    assert ours == hooks(Pluggys)
    assert {("cab_adapters", "odd"), ("cab_scorers", "odd"), ("cab_task_sources", "odd")} <= {h[:2] for h in ours}
