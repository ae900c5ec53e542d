"""A third party's adapter, scorer and task format, written from the docs alone, through every part of cab.

The plugin below uses only what ``docs/plugins/`` shows: ``from cab_core import ...``
records and ``hookimpl``, ``TaskError`` for a bad task file, a test script judged by the
summary channel, ``AdapterOption`` for ``-o``, and a scorer record with ``order``,
``label``, ``direction``, ``format``, ``aggregation``, ``note`` and ``description``.
The fast tests register it in-process beside every installed plugin and drive the real
command line: listings, ``cab run``, a sweep, ``cab summary`` (text, JSON, CSV), the
index and the report.  The slow test does what an author does: ``pip install -e`` it
into a fresh environment, finds it in ``cab plugins``, runs a cell with the console
script, and runs the plugin's own tests with the public fixtures of ``cab_core.testing``.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NAME = "cab_thirdparty_demo"

PLUGIN = '''
"""A third-party plugin: the echo-agent adapter, the diff_lines axis and the hello task format."""

from pathlib import Path

from cab_core import Adapter, AdapterOption, AxisScore, LaunchSpec, Scorer, Task, TaskSource, hookimpl
from cab_core.errors import TaskError


def build_launch(ctx):
    """Writes hello.txt with the greeting (-o greeting=...), the model id being ignored."""
    greeting = ctx.options.get("greeting", "hi")
    return LaunchSpec(argv=["/bin/sh", "-c", f'printf "%s\\\\n" "{greeting}" > hello.txt; echo done'],
                      env={"OPENAI_BASE_URL": ctx.base_url or "", "OPENAI_API_KEY": ctx.api_key},
                      secret_env=["OPENAI_API_KEY"])


@hookimpl
def cab_adapters():
    return [Adapter(name="echo-agent", build_launch=build_launch, version="1.2.3",
                    description="writes hello.txt", final_output=lambda out: out.strip().splitlines()[-1:] and "done",
                    options=[AdapterOption(name="greeting", default="hi", help="what to write")])]


def score(ctx):
    lines = sum(1 for line in ctx.changes.patch.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---"))
    return AxisScore(axis="diff_lines", value=float(lines), breakdown={"lines": lines})


@hookimpl
def cab_scorers():
    return [Scorer(name="diff_lines", score=score, label="diff lines", direction="lower", format="count",
                   aggregation="median", order=15, note=lambda s: f"{s.breakdown.get('lines', 0)} lines",
                   description="lines the change added or removed")]


def _tasks(root):
    root = Path(root)
    return sorted(p.parent for p in root.glob("*/*/hello.prompt"))


def load(paths=()):
    tasks = []
    for root in paths:
        for folder in _tasks(root):
            prompt = (folder / "hello.prompt").read_text().strip()
            if not prompt:
                raise TaskError(f"{folder / 'hello.prompt'}: the prompt is empty")
            tasks.append(Task(id=f"{folder.parent.name}/{folder.name}", prompt=prompt, language="shell",
                              test_command="sh check.sh", protected=["check.sh"], expected_changes=["hello.txt"],
                              workspace=folder / "start", solution_dir=folder / "solution",
                              source_path=folder, format="hello"))
    return tasks


@hookimpl
def cab_task_sources():
    return [TaskSource(name="hello", load=load, detect=lambda path: bool(_tasks(path)),
                       description="<category>/<task>/hello.prompt, start/, solution/")]
'''

CHECK = 'if test "$(cat hello.txt 2>/dev/null)" = hi; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; exit 1; fi\n'


def write_plugin(root: Path) -> Path:
    """The plugin as a distribution (the docs' pyproject shape): returns its folder."""
    project = root / "cab-thirdparty-demo"
    (project / NAME).mkdir(parents=True)
    (project / NAME / "__init__.py").write_text(PLUGIN)
    (project / "pyproject.toml").write_text(textwrap.dedent(f'''\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "cab-thirdparty-demo"
        version = "0.3.0"
        dependencies = ["cab-core"]

        [project.entry-points.cab]
        thirdparty-demo = "{NAME}"

        [tool.setuptools.packages.find]
        include = ["{NAME}*"]
        '''))
    (project / "tests").mkdir()
    (project / "tests" / "test_plugin.py").write_text(textwrap.dedent(f'''\
        """The plugin's own tests, with cab's public fixtures only."""
        import json
        from pathlib import Path

        import {NAME} as plugin


        def test_listed(cab_register, cab_cli):
            with cab_register(plugin, name="thirdparty-demo"):
                adapters = cab_cli("adapters", "--json")
                scorers = cab_cli("scorers", "--json")
            assert "echo-agent" in [r["name"] for r in json.loads(adapters.output)]
            assert "diff_lines" in [r["name"] for r in json.loads(scorers.output)]


        def test_scores(score_context):
            assert plugin.score(score_context()).axis == "diff_lines"


        def test_a_real_cell(tmp_path, cab_runner):
            folder = tmp_path / "tasks" / "demo" / "hello"
            (folder / "start").mkdir(parents=True)
            (folder / "solution").mkdir()
            (folder / "hello.prompt").write_text("Write hi to hello.txt.")
            (folder / "start" / "check.sh").write_text({CHECK!r})
            (folder / "solution" / "hello.txt").write_text("hi\\n")
            runner = cab_runner("pass_rate", plugins=[plugin], tasks_dirs=[tmp_path / "tasks"])
            result, _ = runner.run(task="demo/hello", adapter="echo-agent", model="any")
            assert result.status == "ok", result.error
            assert result.scores["pass_rate"].value == 1 and result.scores["diff_lines"].value == 1
        '''))
    return project


def write_tasks(root: Path) -> Path:
    folder = root / "demo" / "hello"
    (folder / "start").mkdir(parents=True)
    (folder / "solution").mkdir()
    (folder / "hello.prompt").write_text("Write hi to hello.txt.")
    (folder / "start" / "check.sh").write_text(CHECK)
    (folder / "solution" / "hello.txt").write_text("hi\n")
    return root


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    project = write_plugin(tmp_path / "src")
    monkeypatch.syspath_prepend(str(project))
    sys.modules.pop(NAME, None)
    return importlib.import_module(NAME)


@pytest.fixture
def cab_with(plugin):
    """The whole command line, every installed plugin plus this one, in this process."""
    from click.testing import CliRunner

    from cab_core.cli import make_cli
    from cab_core.plugins import get_plugin_manager

    def invoke(*args):
        cli = make_cli(lambda: get_plugin_manager(plugins=[plugin]))
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_listed_with_its_order_label_and_description(cab_with):
    adapters = {r["name"]: r for r in json.loads(cab_with("adapters", "--json").output)}
    assert adapters["echo-agent"]["version"] == "1.2.3" and adapters["echo-agent"]["description"] == "writes hello.txt"
    scorers = [r for r in json.loads(cab_with("scorers", "--json").output)]
    mine = next(r for r in scorers if r["name"] == "diff_lines")
    assert (mine["label"], mine["direction"], mine["format"], mine["order"]) == ("diff lines", "lower", "count", 15)
    assert mine["description"] == "lines the change added or removed"


@pytest.mark.slow
def test_runs_in_cab_run_and_lands_in_summary_index_and_report(cab_with, tmp_path):
    tasks, results = write_tasks(tmp_path / "tasks"), tmp_path / "results"
    listed = cab_with("tasks", "list", "--tasks-dir", tasks, "--json")
    assert [r for r in json.loads(listed.output) if r["id"] == "demo/hello"][0]["format"] == "hello"
    bad = cab_with("run", "-a", "echo-agent", "-m", "x", "-t", "demo/hello", "--tasks-dir", tasks,
                   "-o", "greting=hi", "--results", results)
    assert bad.exit_code == 2 and "unknown option of adapter 'echo-agent' 'greting', did you mean 'greeting'?" in bad.output

    run = cab_with("run", "-a", "echo-agent", "-m", "any", "-t", "demo/hello", "--tasks-dir", tasks, "--results", results)
    assert run.exit_code == 0, run.output
    lines = run.output.splitlines()
    labels = [line.split()[0] for line in lines if line.startswith("  ") and line.split()[0] in ("pass", "diff", "tokens/correct")]
    assert labels == ["pass", "diff", "tokens/correct"], run.output  # order 15: after pass (10), before tokens (20)
    assert any(line.split()[:4] == ["diff", "lines", "1", "1"] for line in lines), run.output

    sweep = cab_with("sweep", "--adapters", "echo-agent", "--models", "any", "--tasks", "demo/hello", "--tasks-dir", tasks,
                     "-o", "greeting=hello", "--sweep-id", "tp", "--results", results, "--json")
    assert sweep.exit_code == 0, sweep.output
    summary = json.loads(cab_with("summary", "tp", "--results", results, "--json").output)
    axes = [a["name"] for a in summary["axes"]]
    assert axes.index("pass_rate") < axes.index("diff_lines") < axes.index("tokens")
    assert summary["leaderboard"][0]["axes"]["diff_lines"]["value"] == 1  # one line written: hello
    text = cab_with("summary", "tp", "--results", results).output
    assert "diff lines" in text.splitlines()[1]
    csv_head = cab_with("summary", "tp", "--results", results, "--csv").output.splitlines()[0]
    assert "diff_lines_median" in csv_head

    with sqlite3.connect(results / "index.sqlite") as db:
        rows = db.execute("SELECT value, scorer FROM scores WHERE axis = 'diff_lines'").fetchall()
    assert sorted(value for value, _ in rows) == [1.0, 1.0] and all(scorer for _, scorer in rows), rows

    report = cab_with("report", results, "--out", tmp_path / "site")
    assert report.exit_code == 0, report.output
    front = (tmp_path / "site" / "index.html").read_text()
    assert "diff lines" in front


def test_the_docs_plugin_pages_show_what_this_plugin_needed():
    """Each thing the plugin above relies on is in the docs a third party reads."""
    docs = Path(__file__).resolve().parent.parent / "docs" / "plugins"
    tasks, index, scorer, adapter = ((docs / f).read_text() for f in ("tasks.md", "index.md", "scorer.md", "adapter.md"))
    assert "N passed, M failed" in tasks and "CAB_TEST_REPORT" in tasks and "reference solution" in tasks
    for fixture in ("cab_pm", "cab_register", "cab_cli", "cab_main", "cab_runner", "score_context", "make_task"):
        assert f"`{fixture}`" in index, fixture
    for field in ("label", "direction", "format", "note(score)", "aggregation", "order", "description"):
        assert f"`{field}`" in scorer, field
    for page in (tasks, scorer, adapter):  # each kind shows a whole record in code, not only prose
        assert "```python" in page and "@hookimpl" in page
    assert "AdapterOption" in adapter and "secret_env" in adapter


def _fresh_venv(path: Path) -> Path:
    """A virtual environment that sees this one's packages through a .pth file (nothing downloaded)."""
    import sysconfig
    import venv

    venv.create(path, with_pip=False, symlinks=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "_parent_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n")
    return python


@pytest.mark.slow
def test_pip_installed_it_is_listed_runs_and_its_own_tests_pass(tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    project = write_plugin(tmp_path / "src")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(project)],
                   check=True, capture_output=True, env=env, cwd=tmp_path)
    cab = [str(python), "-c", "import sys; from cab_core.cli import main; main(sys.argv[1:])"]
    listed = subprocess.run([*cab, "plugins", "--json"], capture_output=True, text=True, env=env)
    row = next(r for r in json.loads(listed.stdout) if r["distribution"] == "cab-thirdparty-demo")
    assert row["status"] == "loaded" and row["version"] == "0.3.0"
    assert set(row["hooks"]) >= {"cab_adapters", "cab_scorers", "cab_task_sources"}
    tasks = write_tasks(tmp_path / "tasks")
    run = subprocess.run([*cab, "run", "-a", "echo-agent", "-m", "any", "-t", "demo/hello", "--tasks-dir", str(tasks),
                          "--results", str(tmp_path / "results"), "--json"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    cell = json.loads(run.stdout)
    assert cell["scores"]["pass_rate"]["value"] == 1 and cell["scores"]["diff_lines"]["value"] == 1
    own = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
                         capture_output=True, text=True, env=env, cwd=project)
    assert own.returncode == 0, own.stdout + own.stderr


def _doc_blocks():
    """Every Python block of the plugin docs that implements a hook: (page, code)."""
    import re

    docs = Path(__file__).resolve().parent.parent / "docs" / "plugins"
    for page in sorted(docs.glob("*.md")):
        for code in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S):
            if "@hookimpl" in code:
                yield page.name, code


@pytest.mark.parametrize("page, code", list(_doc_blocks()), ids=[f"{p}-{i}" for i, (p, _) in enumerate(_doc_blocks())])
def test_every_plugin_example_in_the_docs_registers_beside_the_installed_plugins(page, code, tmp_path):
    """Copied as it stands, each example loads next to cab's own plugins: no name clashes, records accepted."""
    import types

    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry

    module = types.ModuleType(f"doc_example_{page.replace('.', '_').replace('-', '_')}")
    exec(compile(code, f"docs/plugins/{page}", "exec"), module.__dict__)
    registry = Registry(get_plugin_manager(plugins=[module]))
    for kind in ("adapters", "scorers", "task_sources", "agent_plugins"):
        collection = getattr(registry, kind)
        list(collection)  # collecting raises on a duplicate name
        assert not collection.failures, collection.failures


@pytest.mark.slow
def test_the_docs_agent_plugin_runs_in_a_cell(cab_runner, make_task):
    import re
    import types

    code = re.findall(r"```python\n(.*?)```", (Path(__file__).resolve().parent.parent / "docs" / "plugins" /
                                                "agent-plugin.md").read_text(), flags=re.S)[0]
    module = types.ModuleType("doc_agent_plugin")
    exec(compile(code, "docs/plugins/agent-plugin.md", "exec"), module.__dict__)
    runner = cab_runner("command", "pass_rate", "native", plugins=[module], tasks_dirs=[make_task()])
    result, folder = runner.run(task="demo/add", plugins=("notes",), options={"notes.file": "NOTES.md"})
    assert result.status == "ok", result.error
    assert "notes" in str(result.plugin_stack) and "NOTES.md" in (folder / "diff.patch").read_text()


def test_the_pytest_plugin_imports_nothing_of_the_harness_until_used():
    """pytest loads ``cab_core.testing`` in every run of an environment with cab installed (an entry
    point): a test run that uses none of its fixtures does not pay for importing the harness."""
    code = ("import sys, cab_core.testing; "
            "print(sorted(m for m in sys.modules if m.startswith('cab_core.') and m not in ('cab_core.testing', 'cab_core.lazy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
