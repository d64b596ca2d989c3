"""``StubServer``: start the reference server in-process, learn its port, stop it cleanly.

    async with StubServer(port=0, dialect="iii") as stub:          # in memory
    async with StubServer(port=0, store="redis://127.0.0.1:6379/0") as stub:  # a fleet member
        await stub.store.set("todo", "inbox", "t1", {...})
        ... connect to stub.ws_url ...

    with StubServer(port=0).in_thread() as stub:    # for blocking tests
        stub.run(stub.store.set("todo", "inbox", "t1", {...}))

Stopping closes every socket (code 1001), cancels the server's background work and
waits for uvicorn to finish, so no task outlives the server and the port can be
bound again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
from collections.abc import Coroutine, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import uvicorn

from . import demo
from ._guard import ConnectionGuard, connection_ceiling
from ._uvicorn import AbortableWebSocketProtocol, EmbeddedServer
from .app import build_app, build_context
from .auth import AuthFunction
from .context import AppContext
from .frames import DIALECTS, Dialect
from .limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEAD_TIMEOUT,
    DEFAULT_MAX_GROUP_BYTES,
    DEFAULT_MAX_GROUP_ITEMS,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_MAX_STORE_BYTES,
    MAX_CLIENT_FRAME_BYTES,
)
from .logs import RateLimitedLog, install_redaction
from .state import StateStore
from .store import StoreLimits, StreamStore
from .streams import StreamConfig
from .tasks import TaskSet
from .ws import StreamEndpoint

log = logging.getLogger("server_stub.server")

T = TypeVar("T")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
LISTEN_BACKLOG = 128
ACCEPT_ERROR = "socket.accept() out of system resource"


def _bind(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket (raises OSError, e.g. when the port is taken)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - maps a wildcard bind to a reachable URL
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class StubServer:
    """The reference Motia stream server (HTTP steps and the stream socket on one port)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        dialect: Dialect = "motia",
        token: str | None = None,
        demo: bool = False,
        *,
        auth: AuthFunction | None = None,
        streams: Iterable[StreamConfig | str] = (),
        max_queue: int = DEFAULT_MAX_QUEUE,
        strict_streams: bool = True,
        store: StreamStore | str | None = None,
        redis_prefix: str | None = None,
        demo_tick: float = 1.5,
        access_log: bool = False,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        max_group_items: int = DEFAULT_MAX_GROUP_ITEMS,
        max_group_bytes: int = DEFAULT_MAX_GROUP_BYTES,
        max_store_bytes: int = DEFAULT_MAX_STORE_BYTES,
        max_connections: int | None = None,
        head_timeout: float = DEFAULT_HEAD_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        echo_state_events: bool = False,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")
        ceiling = connection_ceiling()
        if max_connections is not None and max_connections > ceiling:
            log.warning(
                "max_connections=%d is above what the open-file limit allows; using %d",
                max_connections,
                ceiling,
            )
        self._guard = ConnectionGuard(
            max_connections=ceiling if max_connections is None else min(max_connections, ceiling),
            head_timeout=head_timeout,
            body_timeout=body_timeout,
        )
        self._loop_errors = RateLimitedLog(log)
        self._previous_handler: Any = None
        self.host = host
        self._requested_port = port
        self.demo = demo
        self._demo_tick = demo_tick
        self._access_log = access_log
        self._ctx: AppContext = build_context(
            dialect=dialect,
            token=token,
            auth=auth,
            streams=streams,
            max_queue=max_queue,
            strict_streams=strict_streams,
            store=store,
            redis_prefix=redis_prefix,
            max_queue_bytes=max_queue_bytes,
            limits=StoreLimits(max_group_items, max_group_bytes, max_store_bytes),
            echo_state_events=echo_state_events,
        )
        self._endpoint = StreamEndpoint(self._ctx)
        self._app = build_app(self._ctx, self._endpoint)
        self._demo_tasks = TaskSet(limit=2)
        self._server: EmbeddedServer | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port: int | None = None

    def __repr__(self) -> str:
        where = f"{self.http_url}" if self._port is not None else "not started"
        return f"StubServer({where}, dialect={self.dialect!r}, auth={self._ctx.auth.enabled})"

    # -- what tests read ---------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        """The envelope dialect (``motia`` or ``iii``)."""
        return self._ctx.dialect

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        if self._port is None:
            raise RuntimeError("the stub server is not started")
        return self._port

    @property
    def ws_url(self) -> str:
        """``ws://<host>:<port>/``, the stream endpoint."""
        return f"ws://{_url_host(self.host)}:{self.port}/"

    @property
    def http_url(self) -> str:
        """``http://<host>:<port>``, the base of the HTTP steps."""
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def store(self) -> StreamStore:
        """The stream store; call it on the server's loop (``stub.run`` from other threads)."""
        return self._ctx.store

    @property
    def state(self) -> StateStore:
        """The key-value state the steps write (``todos`` namespace)."""
        return self._ctx.state

    @property
    def connection_count(self) -> int:
        """How many stream sockets are open."""
        return self._endpoint.connection_count

    @property
    def max_connections(self) -> int:
        """The connection cap (HTTP and stream sockets together), below the open-file limit."""
        return self._guard.max_connections

    @property
    def stream_names(self) -> list[str]:
        """The declared streams (the seeds' and ``streams=``), in declaration order."""
        return self._ctx.streams.names()

    @property
    def echo_state_events(self) -> bool:
        """Whether state frames are echoed as custom events (Motia 0.17's Redis adapter)."""
        return self._ctx.echo_state_events

    # -- faults ------------------------------------------------------------------

    def stall(self, stream: str, group: str) -> None:
        """Make the group deliver nothing but syncs to open sockets (a drift to detect).

        Pings are still answered and new joins still get a correct sync; the store
        keeps changing. Any thread may call it; ``unstall`` undoes it.
        """
        self._ctx.stalls.stall(stream, group)

    def unstall(self, stream: str, group: str) -> bool:
        """Resume the group's delivery (what was missed stays missed); False if not stalled."""
        return self._ctx.stalls.unstall(stream, group)

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind, start serving, and return once connections are accepted."""
        if self._serve_task is not None:
            raise RuntimeError("the stub server is already running")
        install_redaction()
        sock = _bind(self.host, self._requested_port)
        self._port = sock.getsockname()[1]
        self._loop = asyncio.get_running_loop()
        try:
            await self._ctx.store.open()  # StoreUnavailable when Redis cannot be reached
        except BaseException:
            sock.close()
            raise
        self._ctx.stopping = asyncio.Event()
        self._previous_handler = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self._loop_exception)
        config = uvicorn.Config(
            self._app,
            http=self._guard.protocol(),
            backlog=LISTEN_BACKLOG,
            ws=AbortableWebSocketProtocol,
            ws_max_size=MAX_CLIENT_FRAME_BYTES,
            lifespan="off",
            log_config=None,
            access_log=self._access_log,
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        server = EmbeddedServer(config)
        self._server = server
        self._serve_task = self._loop.create_task(server.serve(sockets=[sock]), name="motia-stub")
        try:
            await self._wait_started(server, self._serve_task)
        except BaseException:
            await self._finish_serving()
            self._restore_exception_handler()
            sock.close()
            raise
        if self.demo:
            rng = random.Random()
            hooks = self._ctx.hooks
            self._demo_tasks.spawn(demo.todo_activity(hooks, self._demo_tick, rng), "demo todos")
            self._demo_tasks.spawn(demo.ai_activity(hooks, self._demo_tick), "demo ai")
        log.info("motia-stub serving on %s (dialect %s)", self.http_url, self.dialect)

    @staticmethod
    async def _wait_started(server: EmbeddedServer, task: asyncio.Task[None]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the stub server stopped while starting")
            if loop.time() > deadline:
                raise TimeoutError("the stub server did not start in time")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Close every socket, cancel background work, shut uvicorn down (idempotent)."""
        if self._serve_task is None:
            return
        self._ctx.stopping.set()
        await self._demo_tasks.cancel_all()
        await self._ctx.tasks.cancel_all()
        await self._endpoint.close_all(code=1001, reason="server shutting down")
        await self._finish_serving()
        await self._ctx.store.close()
        self._restore_exception_handler()
        log.info("motia-stub stopped")

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Fold accept() failures (no file descriptors left) into one line per few seconds.

        asyncio logs each failed accept with a traceback, up to the listen backlog
        per wake-up; under a connection flood that is megabytes per second. Other
        errors go to the handler that was there before.
        """
        if str(context.get("message", "")).startswith(ACCEPT_ERROR):
            exc = context.get("exception")
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            self._loop_errors.log(
                logging.ERROR,
                "accept",
                "cannot accept connections: %s (open connections are capped at %d; "
                "raise the open-file limit or lower --max-connections)",
                reason,
                self._guard.max_connections,
            )
            return
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    def _restore_exception_handler(self) -> None:
        loop = self._loop
        if (
            loop is not None
            and not loop.is_closed()
            and loop.get_exception_handler() == self._loop_exception
        ):
            loop.set_exception_handler(self._previous_handler)
        self._previous_handler = None

    async def _finish_serving(self) -> None:
        server, task = self._server, self._serve_task
        self._server = self._serve_task = None
        if server is None or task is None:
            return
        server.request_exit()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT)
        except asyncio.TimeoutError:
            log.error("uvicorn did not stop in %.0f s; cancelling it", STOP_TIMEOUT)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def drop_connections(self) -> None:
        """Abruptly drop every stream socket (no close frame), as a network failure would."""
        await self._endpoint.drop_all()

    async def __aenter__(self) -> StubServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- running on a thread of its own --------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run ``coro`` on the server's loop from another thread and return its result."""
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            raise RuntimeError("the stub server is not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("stub.run() would deadlock on the server's own loop; await instead")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[StubServer]:
        """Run the server on its own event-loop thread for the duration of a ``with`` block."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="motia-stub-loop", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(START_TIMEOUT * 2)
            try:
                yield self
            finally:
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(STOP_TIMEOUT * 2)
        finally:
            asyncio.run_coroutine_threadsafe(_cancel_leftovers(), loop).result(STOP_TIMEOUT)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT)
            if not thread.is_alive():
                loop.close()
            self._loop = None


async def _cancel_leftovers() -> None:
    """Cancel whatever still runs on a private loop before it is closed."""
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()
