"""Filling the disk: the work directory and HOME have a size limit; /tmp and /dev/shm are capped tmpfs.

A breach stops the agent and is recorded in the container span (``error: limit
exceeded: disk ...``); the cell is the agent's failure (status ``ok``, not passed),
never an infrastructure error.
"""

import time

import pytest

from cab_core.errors import CabError
from cab_core.sandbox.limits import DiskWatch, Limits, disk_usage

from .conftest import FIXED, assert_contained, needs_bwrap, passed, span

# Every test here runs whole cells: part of the full suite, not the quick loop.
pytestmark = pytest.mark.slow

LIMIT = {"limit.disk": "20M"}


def assert_disk_breach(result, folder):
    assert_contained(result, folder)
    error = span(result, "container").attrs["error"]
    assert error and error.startswith("limit exceeded: disk"), error
    assert span(result, "verify").attrs["skipped"].startswith("limit exceeded: disk")
    assert passed(result) == 0


def test_many_files_past_the_limit_stop_the_agent(hostile):
    t0 = time.monotonic()
    cmd = f"{FIXED}; i=0; while true; do head -c 1048576 /dev/zero > f$i; i=$((i+1)); done"
    result, folder = hostile(cmd, options=LIMIT, timeout=60)
    assert time.monotonic() - t0 < 30, "the agent was not stopped"
    assert_disk_breach(result, folder)
    assert not result.timed_out


def test_one_huge_file_is_cut_at_the_limit(hostile):
    result, folder = hostile(f"{FIXED}; head -c 200000000 /dev/zero > big; ls -la big; sleep 5", options=LIMIT)
    assert_disk_breach(result, folder)


def test_sparse_files_count_at_their_apparent_size(hostile):
    # They cost nothing on disk, but copying the work directory would write them all out.
    # One past the limit is refused outright (RLIMIT_FSIZE); many below it add up.
    cmd = f"{FIXED}; truncate -s 10G huge || echo REFUSED; for i in 1 2 3 4 5; do truncate -s 15M s$i; done; sleep 3"
    result, folder = hostile(cmd, options=LIMIT)
    assert_disk_breach(result, folder)
    assert "REFUSED" in (folder / "agent_output.txt").read_text()


def test_filling_home_counts_too(hostile):
    result, folder = hostile(f"{FIXED}; head -c 30000000 /dev/zero > $HOME/x; head -c 30000000 /dev/zero > $HOME/y; sleep 5",
                             options=LIMIT)
    assert_disk_breach(result, folder)


def test_a_burst_between_two_polls_is_caught_when_the_agent_exits(hostile):
    result, folder = hostile(f"{FIXED}; for i in 1 2 3; do head -c 10000000 /dev/zero > f$i; done", options=LIMIT)
    assert_disk_breach(result, folder)


@needs_bwrap
def test_tmp_and_shm_are_capped_in_the_sandbox(hostile):
    # Files under the per-file limit, but more of them than the tmpfs holds (20 MiB /tmp, 64 MiB /dev/shm).
    fill = "for i in 1 2 3 4 5 6; do head -c 15000000 /dev/zero > {0}/f$i || echo FULL-{0}; done; du -sm {0}"
    cmd = f"{FIXED}; {fill.format('/tmp')}; {fill.format('/dev/shm')}; echo x > /dev/new || echo DEV-RO; echo finished"
    result, folder = hostile(cmd, options=LIMIT)
    out = (folder / "agent_output.txt").read_text()
    assert "finished" in out and "FULL-/tmp" in out and "FULL-/dev/shm" in out and "DEV-RO" in out
    assert "No space left on device" in out
    assert result.status == "ok"


def test_an_honest_agent_under_the_limit_is_untouched(hostile):
    result, folder = hostile(f"{FIXED}; head -c 1000000 /dev/zero > data.bin", options=LIMIT)
    assert span(result, "container").attrs["error"] is None
    assert passed(result) == 1


def test_limits_parse_and_reject_nonsense():
    assert Limits.from_options({"disk": "512M", "pids": "100"}, env={}) == Limits(disk=512 * 1024**2, pids=100)
    assert Limits.from_options({"disk": "none"}, env={}).disk is None
    assert Limits.from_options({}, env={"CAB_LIMIT_DISK": "1G"}).disk == 1024**3
    for bad in ({"disk": "lots"}, {"pids": "-1"}, {"disk": "1"}, {"cpu": "2"}):
        with pytest.raises(CabError):
            Limits.from_options(bad, env={})


def test_disk_usage_charges_every_file_and_does_not_follow_links(tmp_path):
    for i in range(100):
        (tmp_path / f"empty{i}").touch()
    (tmp_path / "link").symlink_to("/usr")
    assert 100 * 512 <= disk_usage([tmp_path]) < 1024 * 1024
    watch = DiskWatch([tmp_path], 10 * 1024)
    assert watch.check(force=True).startswith("limit exceeded: disk")


def test_folders_nested_without_end_stop_the_agent_and_do_not_crash_the_harness(hostile):
    # Deeper than Python recurses: copying, walking or removing such a tree used to raise RecursionError.
    result, folder = hostile(f"{FIXED}; for i in $(seq 1200); do mkdir d; cd d; done; echo deep")
    assert_contained(result, folder)
    error = span(result, "container").attrs["error"]
    assert error.startswith("limit exceeded: disk: folders nested more than")
    assert passed(result) == 0


def test_the_disk_limit_applies_unisolated_too(hostile, monkeypatch):
    monkeypatch.setenv("CAB_NO_BWRAP", "1")
    result, folder = hostile(f"{FIXED}; for i in 1 2 3; do head -c 10000000 /dev/zero > f$i; done; sleep 5", options=LIMIT)
    assert result.isolation == "none"
    assert_disk_breach(result, folder)
