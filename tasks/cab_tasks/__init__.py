"""cab's task sources: the native task format and the built-in suite (``suite/``)."""

from pathlib import Path

SUITE = Path(__file__).parent / "suite"
