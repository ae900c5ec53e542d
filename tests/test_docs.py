"""The documentation site builds with warnings as errors: links, anchors, navigation, docstrings.

``mkdocs build --strict`` with the validation settings of ``mkdocs.yml`` fails on a link to
a missing page or anchor, a page left out of the navigation, and a docstring
mkdocstrings cannot render; the CLI and API pages are generated from the code, so a
command or record that changes shape shows up here.  Never skipped: the tools are in
the ``test`` extra.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build(site: Path, config: Path = ROOT / "mkdocs.yml"):
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.mark.slow
def test_the_docs_build_strict_and_cover_every_part(tmp_path):
    proc = _build(tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    site = tmp_path / "site"
    cli = (site / "cli.html").read_text()
    for command in ("cab run", "cab sweep", "cab new", "cab summary", "cab plugins"):
        assert command in cli, f"{command} missing from the generated CLI reference"
    api = (site / "api.html").read_text()
    for anchor in ("cab_core.hookspecs.cab_adapters", "cab_core.hookspecs.cab_cell_finished",
                   "cab_core.models.Scorer", "cab_core.models.CellResult", "cab_core.models.FileChanges"):
        assert f'id="{anchor}"' in api, f"{anchor} missing from the generated API reference"
    assert "allow-list root" in (site / "security.html").read_text()  # SECURITY.md, included whole


def test_a_broken_internal_link_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[gone](missing.md) and [there](other.md#no-such-anchor)\n")
    (docs / "other.md").write_text("# Other\n")
    config = tmp_path / "mkdocs.yml"
    # The same validation settings as the real site, on a two-page site (fast).
    real = (ROOT / "mkdocs.yml").read_text()
    validation = real[real.index("validation:"):real.index("markdown_extensions:")]
    config.write_text(f"site_name: t\ndocs_dir: {docs}\nnav:\n  - index.md\n  - other.md\n{validation}")
    proc = _build(tmp_path / "site", config)
    assert proc.returncode != 0
    assert "missing.md" in proc.stderr and "no-such-anchor" in proc.stderr


def test_the_readme_links_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert "docs/" in readme and "mkdocs" in readme
