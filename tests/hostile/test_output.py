"""Printing without end: output is capped on disk and never held whole in memory."""

import threading
import time
from pathlib import Path

import pytest

from cab_core.runner import TEST_OUTPUT_CAP
from cab_core.sandbox.pty import DEFAULT_OUTPUT_CAP, TAIL_BYTES

from .conftest import FIXED, assert_contained, passed, span


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRSS:
    """Samples this process's resident memory while a block runs."""

    def __enter__(self):
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> float:
        return self.peak - self.start


def check_capped(result, folder):
    assert_contained(result, folder)
    assert span(result, "container").attrs["output_truncated"] is True
    assert (folder / "agent_output.txt").stat().st_size <= TAIL_BYTES + 1024
    # the recording keeps the first DEFAULT_OUTPUT_CAP bytes (JSON-escaped, so a little more)
    assert (folder / "terminal.cast").stat().st_size <= 2 * DEFAULT_OUTPUT_CAP


def test_a_flood_of_output_is_capped_and_not_kept_in_memory(hostile):
    with PeakRSS() as rss:
        result, folder = hostile(f"{FIXED}; yes 'all work and no play makes jack a dull boy' | head -c 60000000; echo END",
                                 timeout=120)
    check_capped(result, folder)
    assert (folder / "agent_output.txt").read_text().rstrip().endswith("END")  # the tail is the end of it
    assert rss.growth < 60, f"harness memory grew {rss.growth:.0f} MB for 60 MB of output"
    assert passed(result) == 1


def test_the_final_screen_is_the_end_of_a_long_output_and_quick_to_render(hostile):
    t0 = time.monotonic()
    result, folder = hostile(f"{FIXED}; seq 1 300000; echo LAST-LINE")
    assert "LAST-LINE" in result.final_screen and "300000" in result.final_screen
    assert time.monotonic() - t0 < 30


def test_the_tests_printing_without_end_are_capped_too(hostile):
    code = "import sys\\nsys.stdout.write('x' * 30000000)\\ndef add(a, b):\\n    return a + b\\n"
    result, folder = hostile(f"printf \"{code}\" > calc.py")
    assert_contained(result, folder)
    assert (folder / "test_output.txt").stat().st_size <= TEST_OUTPUT_CAP + 1024


@pytest.mark.slow
def test_gigabytes_of_output_until_the_timeout(hostile):
    t0 = time.monotonic()
    with PeakRSS() as rss:
        result, folder = hostile("cat /dev/zero | tr '\\0' 'y'", timeout=30)
    assert time.monotonic() - t0 < 45  # the timeout, the verify run and a few seconds of bookkeeping
    check_capped(result, folder)
    assert result.timed_out
    assert rss.growth < 60, f"harness memory grew {rss.growth:.0f} MB"
