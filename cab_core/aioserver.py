"""An aiohttp application served from its own thread and event loop.

The recording proxy and the scripted model server both run this way, so the harness
(which is synchronous) can start one, use its address, and stop it, in any thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, Optional, Union

from aiohttp import web

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """An aiohttp application served on 127.0.0.1 from a daemon thread with its own event loop.

    Subclasses implement :meth:`_build_app` (called inside the loop, so it may create
    client sessions) and may override :meth:`_before_cleanup` (release handlers that
    wait forever) and :meth:`_after_cleanup` (close what :meth:`_build_app` opened).
    ``start()`` binds a free port and returns ``self``; ``stop()`` is idempotent; the
    object is a context manager.  ``port`` 0 (the default) takes any free port.
    ``shutdown_timeout`` is how long ``stop()`` lets requests in flight finish (aiohttp
    waits it twice: for the handler, then for its cancellation).
    """

    _thread_name = "cab-server"

    def __init__(
        self, *, port: int = 0, unix_socket: Union[str, Path, None] = None, shutdown_timeout: float = 0.5
    ):
        self._bind_port = int(port)
        self.unix_socket: Optional[Path] = Path(unix_socket) if unix_socket is not None else None
        self._shutdown_timeout = shutdown_timeout
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[web.AppRunner] = None
        self.port: Optional[int] = None

    # ---------------------------------------------------------------- for subclasses

    async def _build_app(self) -> web.Application:
        raise NotImplementedError

    async def _before_cleanup(self) -> None:
        """Called in the loop before the server stops accepting and drains its handlers."""

    async def _after_cleanup(self) -> None:
        """Called in the loop after the server has stopped."""

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (raises if the server is not started)."""
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} is not started: call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self):
        """Bind ``127.0.0.1:<port>`` (and the Unix socket, if any), serve in the background, return ``self``."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()

        self._thread = threading.Thread(target=run, name=self._thread_name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    async def _astart(self) -> None:
        app = await self._build_app()
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, "127.0.0.1", self._bind_port)
        await site.start()
        self.port = runner.addresses[0][1]
        if self.unix_socket is not None:
            await web.UnixSite(runner, str(self.unix_socket)).start()

    async def _astop(self) -> None:
        try:
            await self._before_cleanup()
        finally:
            try:
                if self._runner is not None:
                    await self._runner.cleanup()
                # aiohttp cancels handlers that outlived the grace period but does not
                # wait for them: let them run their cleanup before the loop stops.
                leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in leftovers:
                    task.cancel()
                if leftovers:
                    await asyncio.wait(leftovers, timeout=1.0)
            finally:
                await self._after_cleanup()

    def stop(self) -> None:
        """Stop serving, wait for the thread to end (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            if thread.is_alive():
                future = asyncio.run_coroutine_threadsafe(self._astop(), loop)
                try:
                    future.result(timeout=self._shutdown_timeout + 10)
                finally:
                    loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        finally:
            self._thread = None
            self._runner = None
            if self.unix_socket is not None and self.unix_socket.is_socket():
                self.unix_socket.unlink()

    def __enter__(self):
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------- one exchange
