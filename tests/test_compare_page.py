"""The report's compare pages (issue 18): two groups of a sweep, and two cells, side by side.

A small real sweep: the mini agent against a scripted server that knows one task's
reference solution, used as an ordinary endpoint (so its calls are priced with
``--price``): ``acme/oracle`` writes the solution, ``acme/vandal`` the solution plus
VANDAL.txt, ``acme/noop`` nothing; two trials each.  The report is built with the real
``cab report``; Chromium opens the pages.
"""

import json
import re
from pathlib import Path

import pytest

from cab_core.modelserver import ScriptContext, ScriptedModelServer
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.report.compare import pair_parts, usd
from cab_core.tasks import TaskCatalog, solution_files

from conftest import run_cab

#: A six-cell sweep of a real agent and Chromium: the full suite runs these, the quick loop does not.
pytestmark = pytest.mark.slow

TASK = "polyglot/python-slugify"
ORACLE, VANDAL, NOOP = ("mini", "acme/oracle"), ("mini", "acme/vandal"), ("mini", "acme/noop")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare-page")
    results, site = root / "results", root / "site"
    task = TaskCatalog(Registry(get_plugin_manager())).get(TASK)
    with ScriptedModelServer(ScriptContext(task_id=TASK, solution_files=solution_files(task), prompt=task.prompt)) as server:
        run_cab("sweep", "--adapters", "mini", "--models", "acme/oracle,acme/vandal,acme/noop", "--tasks", TASK,
                "--trials", "2", "--endpoint", server.base_url, "--price", "acme/oracle=1,2", "--price", "acme/vandal=3,4",
                "--price", "acme/noop=5,6", "--results", results, "--sweep-id", "s1", "-j", "2", check=True, cwd=root)
    run_cab("report", results, "--out", site, check=True, cwd=root)
    return results, site


def group_page(site: Path, a=ORACLE, b=NOOP) -> Path:
    return site.joinpath(*pair_parts("s1", a, b)) / "index.html"


def cli_compare(results: Path, a=ORACLE, b=NOOP) -> dict:
    proc = run_cab("compare", "--sweep", "s1", ":".join(a), ":".join(b), "--results", results, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_group_page_holds_what_cab_compare_prints(built):
    results, site = built
    data = cli_compare(results)
    assert (data["paired"]["only_a"], data["paired"]["only_b"], data["paired"]["mcnemar_p"]) == (2, 0, 0.5)
    page = group_page(site)
    html = page.read_text()
    assert "McNemar p = 0.5" in html and "only A passes 2, only B passes 0" in html
    assert data["a"]["total_cost_usd"] > 0 and usd(data["a"]["total_cost_usd"]) in html
    assert usd(data["b"]["total_cost_usd"]) in html and usd(data["a"]["usd_per_correct"]) in html
    # one side-by-side page per task and trial both ran, linked from its row
    links = re.findall(r'href="([^"]+)" data-testid="pair-link"', html)
    assert len(links) == 2 and all((page.parent / link).resolve().is_file() for link in links)
    assert TASK in html and html.count('data-outcome="only_a"') == 2


def test_the_sweep_page_links_the_compare_pages_and_shows_dollars_per_correct(built):
    results, site = built
    html = (site / "sweeps" / "s1" / "index.html").read_text()
    for a, b in ((ORACLE, VANDAL), (ORACLE, NOOP), (VANDAL, NOOP)):  # every pair of three groups
        target = "../../" + "/".join(pair_parts("s1", a, b)) + "/index.html"
        assert f'href="{target}" data-testid="compare-link"' in html
    assert html.count('data-testid="compare-leader"') == 2  # each leaderboard row below the leader
    summary = json.loads(run_cab("summary", "s1", "--results", results, "--json", check=True).stdout)
    for entry in summary["leaderboard"]:
        if entry["passes"]:
            assert usd(entry["usd_per_correct"]) in html
        else:
            assert entry["usd_per_correct"] is None and entry["total_usd"] > 0


def test_the_compare_page_in_chromium_shows_the_paired_result_and_both_diffs(built, chromium):
    results, site = built
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        page.goto(group_page(site).resolve().as_uri())
        paired = page.get_by_test_id("paired").inner_text()
        assert "McNemar p = 0.5" in paired and "only A passes 2, only B passes 0" in paired
        assert page.get_by_test_id("compare-tasks").locator("tbody tr").count() == 2
        data = cli_compare(results)
        totals = page.get_by_test_id("compare-totals").inner_text()
        assert usd(data["a"]["total_cost_usd"]) in totals and "$ per correct task" in totals

        page.goto(group_page(site, ORACLE, VANDAL).resolve().as_uri())
        assert "McNemar p" in page.get_by_test_id("paired").inner_text()
        page.get_by_test_id("pair-link").first.click()
        page.wait_for_selector("[data-testid=diff-b]")
        diff_a = page.get_by_test_id("diff-a").inner_text()
        diff_b = page.get_by_test_id("diff-b").inner_text()
        assert "slugify.py" in diff_a and "slugify.py" in diff_b
        assert "VANDAL.txt" in diff_b and "VANDAL.txt" not in diff_a
        assert "McNemar p" in page.get_by_test_id("paired").inner_text()  # the groups' paired result, above the diffs
        assert not errors, errors
    finally:
        context.close()
