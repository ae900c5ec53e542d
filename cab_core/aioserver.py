"""An aiohttp application served from its own thread and event loop, started when first reached.

The recording proxy and the scripted model server both run this way, so the harness
(which is synchronous) can start one, use its address, and stop it, in any thread.

Serving on demand (issue 16): :meth:`BackgroundServer.start` binds and listens at
once, so the address is known and a client may connect straight away (the kernel
holds the connection in the listen backlog), but aiohttp is imported and the event
loop started only when the first connection arrives.  Every cell has its own
recording proxy, and most cells of a command or an oracle never call a model: they
pay a bind and a thread, not a third of a second of imports and an event loop.
A server that failed to start when reached keeps the exception in
:attr:`BackgroundServer.failure` (its clients saw the connection closed).

``aiohttp`` and ``web`` here stand for those modules until first read
(:class:`~cab_core.lazy.LazyModule`): the endpoint modules name them at module level
without importing them.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from pathlib import Path
from typing import Any, Optional, Union

from .lazy import LazyModule

asyncio = LazyModule("asyncio")
aiohttp = LazyModule("aiohttp")
web = LazyModule("aiohttp.web")

__all__ = ["BackgroundServer", "aiohttp", "web"]

#: Connections the kernel holds for a server before it accepts (aiohttp's default).
BACKLOG = 128

_IDLE, _LISTENING, _STARTING, _SERVING, _STOPPED = "idle", "listening", "starting", "serving", "stopped"


class BackgroundServer:
    """An aiohttp application served on 127.0.0.1 from a daemon thread with its own event loop.

    Subclasses implement :meth:`_build_app` (called inside the loop, so it may create
    client sessions) and may override :meth:`_before_cleanup` (release handlers that
    wait forever) and :meth:`_after_cleanup` (close what :meth:`_build_app` opened).
    ``start()`` binds a free port and returns ``self``; the application is built when
    the first client connects (see the module docstring).  ``stop()`` is idempotent; the
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
        self._runner = None
        self._sockets: list[socket.socket] = []
        self._state = _IDLE
        self._state_lock = threading.Lock()
        self._started = threading.Event()
        self.port: Optional[int] = None
        #: What failed when the application was started for its first client (``None``: nothing).
        self.failure: Optional[BaseException] = None

    # ---------------------------------------------------------------- for subclasses

    async def _build_app(self):
        """The ``aiohttp.web.Application`` to serve."""
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
        """Listening for its first client, or serving."""
        return self._state in (_LISTENING, _STARTING) or (self._thread is not None and self._thread.is_alive())

    @property
    def serving(self) -> bool:
        """Whether a client has reached the server, so aiohttp serves it (``False`` while only listening)."""
        return self._state == _SERVING

    def start(self):
        """Bind and listen on ``127.0.0.1:<port>`` (and the Unix socket, if any), return ``self``.

        A bind that fails raises here; the application starts when a client connects.
        """
        if self._state not in (_IDLE, _STOPPED):
            raise RuntimeError(f"{type(self).__name__} is already started")
        self._sockets = self._listen()
        self.port = self._sockets[0].getsockname()[1]
        self._state, self.failure = _LISTENING, None
        self._started.clear()
        _DOORBELL.watch(self, [s.fileno() for s in self._sockets])
        return self

    def serve_now(self):
        """Start the application without waiting for a client (for callers that know one will come,
        so its first request does not wait for aiohttp's imports); returns ``self``."""
        if self._state in (_IDLE, _STOPPED):
            raise RuntimeError(f"{type(self).__name__} is not started: call start() first")
        _DOORBELL.forget([s.fileno() for s in self._sockets])
        self._ring()
        self._started.wait(timeout=60)
        return self

    def _ring(self) -> None:
        """A client is waiting (called by the doorbell's thread): start serving in a thread of our own."""
        with self._state_lock:
            if self._state != _LISTENING:
                return
            self._state = _STARTING
            self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def _listen(self) -> list[socket.socket]:
        tcp = socket.create_server(("127.0.0.1", self._bind_port), backlog=BACKLOG)
        if self.unix_socket is None:
            return [tcp]
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if self.unix_socket.is_socket():  # a stale one, as asyncio's unix server replaces it
                self.unix_socket.unlink()
            unix.bind(str(self.unix_socket))
            unix.listen(BACKLOG)
        except BaseException:
            unix.close()
            tcp.close()
            raise
        return [tcp, unix]

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._astart())
        except BaseException as exc:  # kept for the owner; the waiting clients see the connection closed
            self.failure = exc
            self._close_sockets()
            loop.close()
            self._started.set()
            return
        self._state = _SERVING
        self._started.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _astart(self) -> None:
        app = await self._build_app()
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        self._runner = runner
        for sock in self._sockets:
            await web.SockSite(runner, sock, backlog=BACKLOG).start()

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
        """Stop serving (or listening), wait for the thread to end (idempotent)."""
        with self._state_lock:
            state = self._state
            if state == _LISTENING:  # never reached: nothing of aiohttp to stop
                self._state = _STOPPED
        if state in (_IDLE, _STOPPED):
            return
        try:
            if state == _LISTENING:
                _DOORBELL.forget([s.fileno() for s in self._sockets])
                return
            self._started.wait(timeout=60)  # a start under way finishes first
            thread, loop = self._thread, self._loop
            if thread is not None and thread.is_alive() and loop is not None and self.failure is None:
                future = asyncio.run_coroutine_threadsafe(self._astop(), loop)
                try:
                    future.result(timeout=self._shutdown_timeout + 10)
                finally:
                    loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(timeout=10)
        finally:
            self._thread = None
            self._runner = None
            self._state = _STOPPED
            self._close_sockets()
            if self.unix_socket is not None and self.unix_socket.is_socket():
                self.unix_socket.unlink()

    def _close_sockets(self) -> None:
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def __enter__(self):
        if self._state in (_IDLE, _STOPPED):
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


class _Doorbell:
    """One thread for every server still waiting for its first client: it polls their
    listening sockets and hands each server its first connection (:meth:`BackgroundServer._ring`).

    One shared thread rather than one per server: a cell's proxy costs a bind and an
    ``epoll_ctl``, not a thread start.  The sockets are registered edge-free
    (``EPOLLONESHOT``): a server rung once is not rung again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[int, BackgroundServer] = {}
        self._epoll: Optional[select.epoll] = None
        self._thread: Optional[threading.Thread] = None

    def watch(self, server: BackgroundServer, fds: list[int]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._epoll = select.epoll()
                self._thread = threading.Thread(target=self._loop, args=(self._epoll,), name="cab-doorbell",
                                                daemon=True)
                self._thread.start()
            for fd in fds:
                self._servers[fd] = server
                self._epoll.register(fd, select.EPOLLIN | select.EPOLLONESHOT)

    def forget(self, fds: list[int]) -> None:
        """Stop watching ``fds`` (before they are closed: a reused number must not ring the old server)."""
        with self._lock:
            for fd in fds:
                if self._servers.pop(fd, None) is not None:
                    with contextlib.suppress(OSError):
                        self._epoll.unregister(fd)

    def _loop(self, epoll: select.epoll) -> None:
        while True:
            events = epoll.poll()
            for fd, _ in events:
                with self._lock:
                    server = self._servers.get(fd)
                if server is None:
                    continue
                self._forget_server(server)
                try:
                    server._ring()
                except Exception as exc:  # noqa: BLE001  (kept for the owner; this thread must go on)
                    server.failure = exc

    def _forget_server(self, server: BackgroundServer) -> None:
        with self._lock:
            fds = [fd for fd, s in self._servers.items() if s is server]
        self.forget(fds)


_DOORBELL = _Doorbell()
