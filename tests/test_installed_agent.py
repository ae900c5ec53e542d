"""The declarative base of installed agents (``cab_adapters._base``), without running an agent.

What every adapter built on :class:`InstalledAgent` inherits: the endpoint right per wire
protocol, the derived ``Adapter`` record and image recipe, the relay's usage log and
globbed copies, and one-line errors.
"""

import re
import sys
from pathlib import Path

import attrs
import pytest

from cab_core import LaunchContext
from cab_core.errors import CabError


@pytest.fixture()
def ctx(tmp_path):
    from cab_core.models import Task

    (tmp_path / "ws").mkdir()
    task = Task(id="t/one", prompt="fix it", language="python", test_command="true", workspace=tmp_path / "ws")
    return LaunchContext(task=task, model="m", workdir=tmp_path / "ws", home=tmp_path / "home",
                         base_url="http://127.0.0.1:9/v1", api_key="dummy", agent_from_image=True)


def _agent(**kw):
    from cab_adapters._base import InstalledAgent

    base = dict(name="toy", package="toy-pkg", pinned="1.0", installer="npm", binary="node_modules/.bin/toy",
                module="cab_adapters.pi", argv=lambda ctx: ["run", ctx.task.prompt])
    return InstalledAgent(**{**base, **kw})


@pytest.mark.parametrize("url", ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"])
def test_endpoint_is_right_per_protocol(url):
    from cab_adapters._base import endpoint_url

    assert endpoint_url(url, "chat") == endpoint_url(url, "responses") == "http://h:1/v1"
    assert endpoint_url(url, "messages") == endpoint_url(url, "gemini") == "http://h:1"


def test_key_and_endpoint_follow_the_protocol(ctx):
    assert _agent(protocol="messages").key_env(ctx) == {"ANTHROPIC_API_KEY": "dummy"}
    assert _agent(protocol="messages").endpoint(ctx) == "http://127.0.0.1:9"
    assert _agent(protocol="gemini").key_env(ctx) == {"GEMINI_API_KEY": "dummy"}
    assert _agent().endpoint(ctx) == "http://127.0.0.1:9/v1"
    with pytest.raises(CabError, match="the toy adapter needs a model endpoint"):
        _agent().build_launch(attrs.evolve(ctx, base_url=None))


def test_bad_record_is_refused():
    with pytest.raises(ValueError, match="installer"):
        _agent(installer="brew")
    with pytest.raises(ValueError, match="protocol"):
        _agent(protocol="grpc")


def test_adapter_record_and_image_recipe_are_derived(monkeypatch, ctx):
    from cab_core import images

    monkeypatch.setenv("CAB_TOY_VERSION", "2.5")
    adapter = _agent(installer="pypi", binary="bin/toy").adapter()
    assert (adapter.name, adapter.version, adapter.image) == ("toy", "2.5", "cab/toy:2.5")
    assert adapter.build_launch.__module__ == "cab_adapters.pi"
    recipe = images.find_recipes([adapter])["toy"]
    assert recipe.path.name == "_pypi" and recipe.tag == "cab/toy:2.5" and recipe.base
    assert dict(recipe.args) == {"AGENT": "toy", "PACKAGE": "toy-pkg", "BINARY": "bin/toy"}
    assert "_npm" not in images.find_recipes([adapter]) and "_pypi" not in images.find_recipes([adapter])


def test_launch_is_relayed_only_when_needed(ctx):
    plain = _agent().build_launch(ctx)
    assert list(plain.argv[1:]) == ["run", "fix it"] and plain.argv[0].endswith("toy/1.0/node_modules/.bin/toy")
    relayed = _agent(render=lambda e, u: ()).build_launch(ctx)
    assert list(relayed.argv[:5]) == [sys.executable, "-I", "-m", "cab_adapters.pi", "relay"]
    assert "--passthrough" not in relayed.argv
    tui = _agent(render=lambda e, u: ()).build_launch(attrs.evolve(ctx, mode="interactive"))
    assert tui.argv == plain.argv
    logged = _agent(usage_log=lambda c: c.home / "u.jsonl").build_launch(attrs.evolve(ctx, mode="interactive"))
    assert logged.argv[logged.argv.index("--passthrough") + 1] == "yes"


def test_missing_install_is_one_line(monkeypatch, tmp_path, ctx):
    monkeypatch.setenv("CAB_AGENTS_DIR", str(tmp_path / "empty"))
    with pytest.raises(CabError, match=r"^toy is not installed: run 'cab agents install toy'$"):
        _agent().build_launch(attrs.evolve(ctx, agent_from_image=False))
    assert _agent().is_installed() is False


def test_relay_copies_a_glob_and_sums_a_usage_log(tmp_path, capsys):
    from cab_adapters import _agents

    (tmp_path / "lib" / "py3.11").mkdir(parents=True)
    (tmp_path / "lib" / "py3.11" / "prices.json").write_text("{}")
    log = tmp_path / "usage.jsonl"
    script = f"open({str(log)!r}, 'w').write('{{\"n\": [3, 4]}}\\nnot json\\n{{\"n\": [1, 2]}}\\n')"
    copy = tmp_path / "home" / "prices.json"
    code = _agents.relay_main("toy", None, ["--copy", f"{tmp_path}/lib/py*/prices.json={copy}", "--usage-log", str(log),
                                            "--", sys.executable, "-c", script],
                              lambda text: _agents.usage_from_json_lines(text, lambda e: tuple(e["n"])))
    assert code == 0 and copy.read_text() == "{}"
    assert capsys.readouterr().out.strip() == "[cab] toy reported usage: prompt 4, completion 6, total 10"
    code = _agents.relay_main("toy", None, ["--copy", f"{tmp_path}/nothing*/x={copy}", "--", sys.executable, "-c", ""])
    assert code == 0 and "nothing matches" in capsys.readouterr().out


def test_real_adapters_are_small_and_on_the_base():
    import cab_adapters

    folder = Path(cab_adapters.__file__).parent
    for name in ("pi", "aider", "opencode"):
        source = (folder / f"{name}.py").read_text()
        assert len(source.splitlines()) <= 120, name
        assert "_base.InstalledAgent(" in source and "def install(" not in source, name


def test_every_real_adapter_has_an_image_recipe():
    """``cab images build --adapter NAME`` works for every registered installed agent, Dockerfile or not."""
    from cab_core import images
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry

    adapters = [a for a in Registry(get_plugin_manager()).adapters if a.install is not None]
    recipes = images.find_recipes(adapters)
    for adapter in adapters:
        recipe = recipes[adapter.name]
        assert recipe.tag == images.adapter_image(adapter) and (recipe.path / "Dockerfile").is_file()
        declared = re.findall(r"^ARG\s+(\w+)", (recipe.path / "Dockerfile").read_text(), re.M)
        assert set(recipe.args) <= set(declared), (adapter.name, recipe.args)
    assert recipes["opencode"].args["EXTRA"] == f"config-template=@opencode-ai/plugin@{recipes['opencode'].version}"


def test_a_tuis_last_answer_block_stops_at_its_status_line():
    """Claude Code draws ``● answer`` then ``✻ Baked for 0s`` and an effort footer: the answer is the block."""
    from cab_adapters import _tui

    screen = ("● Write(slugify.py)\n  ⎿  Wrote 10 lines\n\n● Done: updated slugify.py.\n  Second line.\n\n"
              "✻ Baked for 0s · done 5:12 AM\n                 ● high · /effort")
    assert _tui.last_block(screen, start="● ", stop="✻") == "Done: updated slugify.py.\n  Second line."
    assert _tui.last_block("no markers at all", start="● ", stop="✻") == "no markers at all"


def test_a_link_to_what_the_install_did_not_prepare_is_not_made(tmp_path):
    """Copilot run from its image: no unpacked application to link, so no dangling link in HOME."""
    from cab_adapters import _agents

    there = tmp_path / "prepared"
    there.mkdir()
    home = tmp_path / "home"
    assert _agents.prepare_home([(there, home / "a"), (tmp_path / "missing", home / ".cache" / "pkg")], []) is None
    assert (home / "a").is_symlink() and (home / "a").resolve() == there
    assert not (home / ".cache" / "pkg").is_symlink() and not (home / ".cache" / "pkg").exists()
