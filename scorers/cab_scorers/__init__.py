"""cab's built-in scoring axes, one pluggy plugin module per axis.

Each module is loaded through its own ``cab`` entry point, exactly as a third
party's scorer would be: ``pass_rate``, ``tokens``, ``latency``, ``blast_radius``,
``refusal``, ``integrity`` and the aggregate ``composite``.  Shared helpers live in
:mod:`cab_scorers._util`; the test-output parser is :mod:`cab_scorers.testcounts`;
the reading of a final message for a refusal is :mod:`cab_scorers._refusal_text`.
"""

__version__ = "0.1.0"
