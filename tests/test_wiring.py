"""Bring-your-own-endpoint wiring (``cab agents wiring``, the cell page's "Explore with your own model").

The slow test is the promise itself: for every real adapter (every registered adapter
with an ``install``), the printed script, run by hand in a copy of the task against
``cab model serve`` standing in for "your endpoint", solves the task.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry

from conftest import CAB, run_cab

TASK = "polyglot/python-slugify"
SECRET = "sk-test-never-in-the-script-0123456789"


def _real_adapters() -> list[str]:
    return sorted(a.name for a in Registry(get_plugin_manager()).adapters if a.install is not None)


REAL = _real_adapters()


@pytest.fixture(scope="module")
def cab_cli():
    """The CLI in-process with the installed plugins (the real adapters come from entry points)."""
    from click.testing import CliRunner

    from cab_core.cli import make_cli

    pm = get_plugin_manager()
    cli = make_cli(lambda: pm)
    return lambda *args: CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("adapter", REAL)
def test_wiring_is_a_valid_script_with_placeholders(cab_cli, adapter, tmp_path):
    result = cab_cli("agents", "wiring", adapter)
    assert result.exit_code == 0, result.output
    script = result.output
    assert script.startswith("#!/bin/sh\n") and "exec " in script
    for var in ("MODEL", "ENDPOINT", "PROMPT"):
        assert f'${{{var}:?' in script and f"${{{var}}}" in script, var
    assert "cab-wiring" not in script  # every placeholder became a variable
    assert "cab_adapters" not in script and " relay " not in script  # the agent's own launch, not cab's wrappers
    (tmp_path / "w.sh").write_text(script)
    assert subprocess.run(["sh", "-n", str(tmp_path / "w.sh")]).returncode == 0


def test_wiring_uses_the_given_endpoint_model_and_key_variable(cab_cli):
    result = cab_cli("agents", "wiring", "pi", "--model", "org/m", "--endpoint", "https://example.test/v1/",
                     "--api-key-env", "MY_KEY", "-t", TASK)
    script = result.output
    assert '"apiKey": "${MY_KEY}"' in script and '"baseUrl": "https://example.test/v1"' in script
    assert "--model org/m" in script and ': "${MY_KEY:?' in script
    assert "${PROMPT}" not in script and "Crème brûlée" in script


@pytest.mark.parametrize("args, error", [
    (("nosuch",), "unknown adapter 'nosuch'"),
    (("command",), "adapter 'command' has no wiring"),
    (("pi", "--api-key-env", "MY-KEY; rm"), "is not an environment variable name"),
    (("pi", "-o", "nope=1"), "adapter 'pi' has no option 'nope'"),
])
def test_wiring_errors_are_one_line(cab_cli, args, error):
    result = cab_cli("agents", "wiring", *args)
    assert result.exit_code == 2 and error in result.output and result.output.count("\n") == 1, result.output


def test_values_are_never_expanded_by_the_shell(tmp_path):
    """A prompt or option with shell syntax stays literal: only the wiring's own variables expand."""
    from cab_core import wiring
    from cab_core.models import Task

    registry = Registry(get_plugin_manager())
    (tmp_path / "ws").mkdir()
    evil = 'x $(touch pwned) `touch pwned2` ${HOME} "q" \\ \'s\''
    task = Task(id="t/evil", prompt=evil, language="python", test_command="true", workspace=tmp_path / "ws")
    script = wiring.script(registry.adapters.get("pi"), model="m$(id)", endpoint="http://h/v1", task=task)
    body = script.replace("exec ", "printf '%s\\n' ", 1)
    out = subprocess.run(["sh", "-c", body], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "OPENAI_API_KEY": "k", "AGENT_HOME": str(tmp_path / "h")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == evil and "m$(id)" in out.stdout
    assert not list(tmp_path.glob("pwned*"))
    assert '"id": "m$(id)"' in (tmp_path / "h" / ".pi" / "agent" / "models.json").read_text()


@pytest.fixture(scope="module")
def endpoint():
    """``cab model serve`` on a free port: the user's endpoint, as far as the agent can tell."""
    proc = subprocess.Popen([CAB, "model", "serve", "-t", TASK, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/v1)", line)
        assert match, line
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("adapter", REAL)
def test_printed_wiring_solves_the_task_by_hand(endpoint, adapter, tmp_path):
    from cab_core.tasks import TaskCatalog

    registry = Registry(get_plugin_manager())
    assert registry.adapters.get(adapter).is_installed(), f"{adapter} is not installed: run scripts/install-agents.sh"
    task = TaskCatalog(registry).get(TASK)
    script = run_cab("agents", "wiring", adapter, "--model", "scripted/oracle", "--endpoint", endpoint,
                     "--api-key-env", "MY_ENDPOINT_KEY", "--task", TASK, check=True).stdout
    assert SECRET not in script and "${MY_ENDPOINT_KEY}" in script
    work = tmp_path / "work"
    shutil.copytree(task.workspace, work)
    (tmp_path / "wiring.sh").write_text(script)
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "MY_ENDPOINT_KEY": SECRET,
           "AGENT_HOME": str(tmp_path / "home"), "LANG": "C.UTF-8", "CAB_AGENTS_DIR": os.environ.get("CAB_AGENTS_DIR", "")}
    env = {k: v for k, v in env.items() if v}
    ran = subprocess.run(["sh", str(tmp_path / "wiring.sh")], cwd=work, env=env, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    assert "slugify.py" in subprocess.run(["git", "diff", "--no-index", "--stat", str(task.workspace), str(work)],
                                          capture_output=True, text=True).stdout
    if task.hidden_tests:
        shutil.copytree(task.hidden_tests, work, dirs_exist_ok=True)
    tests = subprocess.run(task.test_command, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert tests.returncode == 0, (tests.stdout + tests.stderr)[-3000:]


def test_cell_page_shows_the_wiring_of_a_real_agent(tmp_path):
    """The cell page's "Explore with your own model": the cell's agent, task, model and options; nothing of cab's."""
    import datetime as _dt
    import html

    from cab_core import serialization
    from cab_core.models import CellId, CellResult
    from cab_core.report.site import build_site

    when = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
    command = f"cab run --adapter pi -m scripted/oracle -t {TASK} -o provider=nim -o strace.unseeded=1 --plugin strace"
    cells = {name: CellResult(cell_id=f"s/{name}/scripted/oracle/{TASK}", started_at=when, ended_at=when, duration_s=1.0,
                              identity=CellId(sweep="s", adapter=name, model="scripted/oracle", task=TASK),
                              command=command.replace("pi", name, 1))
             for name in ("pi", "command")}
    for name, result in cells.items():
        (tmp_path / "results" / name).mkdir(parents=True)
        (tmp_path / "results" / name / "cell.json").write_text(serialization.dumps(result, indent=None))
    site = build_site(tmp_path / "results", tmp_path / "site", jobs=1)
    assert site.errors == []
    pi_page = html.unescape(next((tmp_path / "site").glob("cells/s/pi/**/index.html")).read_text())
    assert "Explore with your own model" in pi_page and "${OPENAI_API_KEY}" in pi_page
    assert 'MODEL="${MODEL:-scripted/oracle}"' in pi_page and "--provider nim" in pi_page
    assert "Crème brûlée" in pi_page and "strace" not in pi_page.split("Explore with your own model")[1]
    command_page = next((tmp_path / "site").glob("cells/s/command/**/index.html")).read_text()
    assert "Explore with your own model" not in command_page
