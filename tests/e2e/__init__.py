"""The end-to-end suite: every real adapter through sweep, summary, report, browser, replay and docker."""
