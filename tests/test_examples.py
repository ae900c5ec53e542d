"""The example plugins in examples/: each installs as a third party's would and is seen by cab.

Their behaviour is tested by their own tests (``examples/*/tests``, collected with the
suite); here, that a plain ``pip install`` of each (not editable, into a folder of its own)
is found through its entry point, with its distribution and version.
"""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, run_cab

EXAMPLES = {
    "cab-adapter-example-shell": ("adapters", "example-shell"),
    "cab-tasks-exercise-file": None,
    "cab-exporter-jsonl": None,
}


def test_every_example_has_its_own_tests_and_readme():
    for folder in sorted((ROOT / "examples").iterdir()):
        if (folder / "pyproject.toml").is_file():
            assert (folder / "README.md").is_file(), folder
            assert list((folder / "tests").glob("test_*.py")), f"{folder.name} has no tests"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_installs_with_pip_and_is_listed(tmp_path, name):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(ROOT / "examples" / name)],
        check=True, capture_output=True,
    )
    env = {"PYTHONPATH": str(target)}
    rows = json.loads(run_cab("plugins", "--json", env=env, check=True).stdout)
    mine = [r for r in rows if r["distribution"] == name]
    assert mine and all(r["status"] == "loaded" for r in mine), rows
    if EXAMPLES[name]:
        command, record = EXAMPLES[name]
        listed = json.loads(run_cab(command, "--json", env=env, check=True).stdout)
        assert record in [row["name"] for row in listed]
