"""``cab new``: each kind scaffolds a distribution that installs, passes its own tests, and is listed.

The fast tests render every kind and load its module in-process; the slow one does what
a plugin author does: ``pip install -e`` each scaffold into a fresh virtual environment
(which sees this one's packages through a ``.pth`` file, so nothing is downloaded and
this environment is left untouched), runs the scaffold's own tests there, and finds each
plugin in ``cab plugins --json``.
"""

import importlib
import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from cab_core.cli.new import KINDS, names_for, scaffold

#: The cab command line, run by a given interpreter.
CAB = "import sys; from cab_core.cli import main; main(sys.argv[1:])"
#: kind -> (listing command, record name for a plugin called "my-thing")
LISTED = {"adapter": ("adapters", "my-thing"), "scorer": ("scorers", "my_thing"),
          "tasks": ("tasks", "demo/hello"), "sandbox": ("sandboxes", "my-thing")}


def test_every_kind_renders_a_complete_project(tmp_path, cab_cli):
    for kind in KINDS:
        out = tmp_path / kind
        result = cab_cli("new", kind, "my-thing", "--out", str(out))
        assert result.exit_code == 0, result.output
        module = names_for(kind, "my-thing")["module"]
        files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        assert files == ["README.md", f"{module}/__init__.py", "pyproject.toml", f"tests/test_{module}.py"]
        text = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
        assert "{{" not in text and "}}" not in text
        assert f'my-thing = "{module}"' in (out / "pyproject.toml").read_text()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_scaffolded_module_registers_in_process(tmp_path, monkeypatch, kind, cab_register, cab_cli):
    scaffold(kind, "my-thing", tmp_path / "project")
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    module = importlib.import_module(names_for(kind, "my-thing")["module"])
    assert module.__doc__ and len(module.__doc__.splitlines()) > 5
    command, record = LISTED[kind]
    args = [command, "--json"]
    if kind == "tasks":  # a task source is seen through the tasks it loads
        folder = tmp_path / "tasks" / "demo" / "hello"
        (folder / "start").mkdir(parents=True)
        (folder / module.PROMPT).write_text("Say hi.")
        (folder / "start" / "check.sh").write_text("true\n")
        (folder / "solution").mkdir()  # a task of the scaffolded format carries its reference solution
        args = ["tasks", "list", "--tasks-dir", str(tmp_path / "tasks"), "--json"]
        record = "demo/hello"
    with cab_register(module, name="my-thing"):
        result = cab_cli(*args)
    assert result.exit_code == 0, result.output
    assert record in [row.get("name") or row.get("id") for row in json.loads(result.output)]


def test_bad_names_and_occupied_folders_are_one_line_errors(tmp_path, cab_cli):
    result = cab_cli("new", "adapter", "My_Agent", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and "plugin name 'My_Agent'" in result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    result = cab_cli("new", "scorer", "ok", "--out", str(tmp_path / "full"))
    assert result.exit_code == 2 and "exists already" in result.output
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    result = cab_cli("new", "widget", "ok")
    assert result.exit_code == 2 and "widget" in result.output
    # An entry point of a name already installed would silently shadow one of the two.
    result = cab_cli("new", "adapter", "command", "--out", str(tmp_path / "y"))
    assert result.exit_code == 2 and "taken by the installed cab-adapters" in result.output
    assert not (tmp_path / "y").exists()


def _fresh_venv(path: Path) -> Path:
    """A virtual environment that sees this one's packages (cab, pip, setuptools) without copying them."""
    venv.create(path, with_pip=False, symlinks=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # addsitedir (not a plain path line) so that this environment's own .pth files, the editable
    # installs of cab and its plugins among them, are processed too.
    Path(purelib, "_parent_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n")
    return python


@pytest.mark.slow
def test_each_kind_installs_with_pip_passes_its_tests_and_is_listed(tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # One name per kind: two entry points of one name are one plugin to cab.
    for kind in KINDS:
        project = tmp_path / f"cab-{kind}-my-{kind}"
        scaffold(kind, f"my-{kind}", project)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e",
                        str(project)], check=True, capture_output=True, env=env, cwd=tmp_path)
        tests = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
                               capture_output=True, text=True, env=env, cwd=project)
        assert tests.returncode == 0, f"{kind}: {tests.stdout}{tests.stderr}"
    proc = subprocess.run([str(python), "-c", CAB, "plugins", "--json"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {row["distribution"]: row for row in json.loads(proc.stdout)}
    for kind in KINDS:
        row = rows[f"cab-{kind}-my-{kind}"]
        assert row["status"] == "loaded" and row["version"] == "0.1.0", row
    # This environment is untouched: the scaffolds were installed in the fresh one only.
    mine = subprocess.run([sys.executable, "-c", CAB, "plugins", "--json"], capture_output=True, text=True)
    assert mine.returncode == 0, mine.stderr
    assert "my-adapter" not in mine.stdout
