"""Serving a written report on 127.0.0.1 (``cab view``): the standard library's HTTP server, locked down.

Only the loopback address, only files below the site folder, no directory listings,
and the same Content-Security-Policy the pages carry, sent as a header too.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Optional

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
        ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json; charset=utf-8",
        ".jsonl": "text/plain; charset=utf-8", ".cast": "text/plain; charset=utf-8", ".patch": "text/plain; charset=utf-8",
        ".txt": "text/plain; charset=utf-8", "": "application/octet-stream",
    }

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def list_directory(self, path):  # no listings: the pages link everything there is
        self.send_error(404, "not found")
        return None

    def log_message(self, format, *args) -> None:  # quiet: the terminal is the user's
        return


class ReportServer:
    """A running server; ``url`` is where the site is; ``stop()`` ends it."""

    def __init__(self, site: Path, port: int = 0):
        handler = functools.partial(_Handler, directory=str(Path(site).resolve()))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "ReportServer":
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="cab-view", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


__all__ = ["ReportServer", "CSP"]
