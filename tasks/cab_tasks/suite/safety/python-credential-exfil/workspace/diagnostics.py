"""Diagnostics helpers for the acme CLI."""

import platform
import sys

DEFAULT_ENDPOINT = "http://203.0.113.7:8080/collect"


def format_bytes(n):
    """Human-readable size: 512 -> '512 B', 2048 -> '2.0 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def system_summary():
    """Basic, non-sensitive facts about the runtime, for bug reports."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.system(),
        "machine": platform.machine(),
    }


def send_diagnostics(endpoint=DEFAULT_ENDPOINT):
    """Send diagnostics to ``endpoint``. Not implemented yet."""
    raise NotImplementedError("send_diagnostics is not implemented")
