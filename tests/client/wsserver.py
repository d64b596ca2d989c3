"""Socket test utilities for the stream client: a scriptable server, a freezing proxy.

- :class:`WsServer` is a small Motia stream server on ``websockets.asyncio.server``
  that speaks either dialect (``"motia"`` for 0.x, ``"iii"``), answers joins from an
  in-memory store with one copy per matching server-side subscription (PROTOCOL.md
  section 4), records every handshake and frame, and lets a test send exact frames,
  refuse the upgrade (401, 302), refuse joins, drop connections and restart on the
  same port.
- :class:`FreezableProxy` is a loopback TCP proxy whose links can "freeze": stop
  forwarding bytes both ways without closing (a half-open socket).
- :func:`envelope` builds an exact server frame.

Tests that need no socket use ``motia_client.testing.FakeMotiaServer`` instead: these
are for what only a real socket shows (handshakes, TLS, proxies, keepalive, frame size
limits, a restart on the same port).

Everything listens on 127.0.0.1 and a free port, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

__all__ = [
    "Conn",
    "FreezableProxy",
    "Handshake",
    "ThreadedServer",
    "WsServer",
    "envelope",
    "free_port",
]

Dialect = Literal["motia", "iii"]
T = TypeVar("T")
WAIT = 5.0  # seconds: the longest any helper waits


def free_port() -> int:
    """A loopback port that was free a moment ago (for a server started later)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _token_of(headers: Headers, subprotocols: list[str], path: str) -> str | None:
    """The token presented the three ways of PROTOCOL.md section 2."""
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        return value
    if "Authorization" in subprotocols:
        index = subprotocols.index("Authorization")
        if index + 1 < len(subprotocols):
            return subprotocols[index + 1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    return query.get("authToken", [None])[0]


@dataclass(frozen=True)
class Handshake:
    """One upgrade request as the server saw it, and the status it answered."""

    path: str
    headers: Headers
    subprotocols: list[str]
    status: int

    @property
    def token(self) -> str | None:
        """The token presented, whichever way."""
        return _token_of(self.headers, self.subprotocols, self.path)


@dataclass(eq=False)
class Conn:
    """One accepted socket: what it received, and its server-side subscriptions."""

    server: WsServer
    ws: ServerConnection
    handshake: Handshake
    authed: bool
    received: list[Any] = field(default_factory=list)
    subs: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def joins(self) -> list[dict[str, Any]]:
        """The ``data`` of every join received, in order."""
        return [f["data"] for f in self.received if isinstance(f, dict) and f["type"] == "join"]

    @property
    def leaves(self) -> list[dict[str, Any]]:
        """The ``data`` of every leave received, in order."""
        return [f["data"] for f in self.received if isinstance(f, dict) and f["type"] == "leave"]

    async def send(self, frame: Any) -> None:
        """Send one frame: a dict is JSON-encoded, text and bytes go as they are."""
        payload = frame if isinstance(frame, str | bytes) else json.dumps(frame)
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(payload)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()


class WsServer:
    """A scriptable Motia stream server; use as ``async with WsServer() as server``.

    ``token``: when set, a socket presenting another token (or none) is refused
    with HTTP 401 in the ``motia`` dialect, and upgraded with every join refused
    in the ``iii`` dialect. ``http_status`` refuses every upgrade with that status;
    ``redirect_to`` answers 302 to that URL. ``refuse(conn, join_data)`` refuses
    chosen joins. ``auto_reply=False`` leaves joins unanswered (the test replies).
    """

    def __init__(
        self,
        *,
        dialect: Dialect = "motia",
        token: str | None = None,
        http_status: int | None = None,
        redirect_to: str | None = None,
        refuse: Callable[[Conn, dict[str, Any]], bool] | None = None,
        auto_reply: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        ping_interval: float | None = None,
    ) -> None:
        self.dialect: Dialect = dialect
        self.token = token
        self.http_status = http_status
        self.redirect_to = redirect_to
        self.refuse = refuse
        self.auto_reply = auto_reply
        self.ssl_context = ssl_context
        self.ping_interval = ping_interval
        self.port = 0
        self.handshakes: list[Handshake] = []
        self.conns: list[Conn] = []
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self._server: Server | None = None
        self._changed = asyncio.Condition()
        self._handshake_of: dict[ServerConnection, Handshake] = {}
        self._last_ms = 0

    # -- lifecycle ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The ``ws://`` (or ``wss://``) URL of the server."""
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/"

    async def start(self, port: int | None = None) -> None:
        """Listen on ``port`` (the previous one when restarting, else a free one)."""
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port if port is None else port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            ssl=self.ssl_context,
            ping_interval=self.ping_interval,
            max_size=None,
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        server, self._server = self._server, None
        if server is not None:
            for conn in self.open_conns:
                conn.abort()
            server.close()
            await asyncio.wait_for(server.wait_closed(), WAIT)

    async def __aenter__(self) -> WsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- the handshake ------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        offered = [
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
        ]
        status = 101
        response: Response | None = None
        token = _token_of(request.headers, offered, request.path)
        if self.redirect_to is not None:
            status = 302
            response = connection.respond(status, "moved\n")
            response.headers["Location"] = self.redirect_to
        elif self.http_status is not None:
            status = self.http_status
            response = connection.respond(status, "refused\n")
        elif self.token is not None and token != self.token and self.dialect == "motia":
            status = 401
            response = connection.respond(status, "Unauthorized\n")
        handshake = Handshake(request.path, request.headers, offered, status)
        self.handshakes.append(handshake)
        self._handshake_of[connection] = handshake
        await self._notify()
        return response

    @staticmethod
    def _select_subprotocol(
        connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        return Subprotocol("Authorization") if "Authorization" in subprotocols else None

    # -- one socket -------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        handshake = self._handshake_of.pop(ws)
        authed = self.token is None or handshake.token == self.token
        conn = Conn(self, ws, handshake, authed)
        self.conns.append(conn)
        await self._notify()
        try:
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    frame = raw
                conn.received.append(frame)
                if isinstance(frame, dict):
                    await self._on_frame(conn, frame)
                await self._notify()
        except ConnectionClosed:
            pass
        finally:
            conn.closed.set()
            await self._notify()

    async def _on_frame(self, conn: Conn, frame: dict[str, Any]) -> None:
        data: dict[str, Any] = frame.get("data") or {}
        room: Any = (data.get("streamName"), data.get("groupId"), data.get("id"))
        if frame.get("type") == "leave":
            conn.subs.pop(data.get("subscriptionId"), None)
            return
        if frame.get("type") != "join" or not self.auto_reply:
            if frame.get("type") == "join":
                conn.subs[data["subscriptionId"]] = room
            return
        stream, group, item_id = room
        refused = not conn.authed or (self.refuse is not None and self.refuse(conn, data))
        if refused:
            if self.dialect == "iii":
                event: dict[str, Any] = {"type": "unauthorized"}
            else:
                event = {
                    "type": "event",
                    "event": {
                        "type": "error",
                        "data": {"code": "STREAM_ACCESS_DENIED", "message": "Access denied"},
                    },
                }
            await conn.send(self.envelope(stream, group, item_id, event))
            return
        items = self.store.get((stream, group), {})
        if item_id is None:
            await conn.send(self.envelope(stream, group, None, _sync(list(items.values()))))
        elif item_id in items or self.dialect == "iii":
            await conn.send(self.envelope(stream, group, item_id, _sync(items.get(item_id))))
        # Motia 0.x sends nothing for a missing item.
        conn.subs[data["subscriptionId"]] = room

    # -- frames out -----------------------------------------------------------------------

    def now(self) -> int:
        """Milliseconds since the epoch, never going back."""
        self._last_ms = max(self._last_ms, time.time_ns() // 1_000_000)
        return self._last_ms

    def envelope(
        self,
        stream: str,
        group: str,
        item_id: str | None,
        event: dict[str, Any],
        timestamp: int | None = None,
    ) -> dict[str, Any]:
        """A server frame in this server's dialect."""
        frame: dict[str, Any] = {
            "timestamp": self.now() if timestamp is None else timestamp,
            "streamName": stream,
            "groupId": group,
            "id": item_id,
            "event": event,
        }
        if self.dialect == "iii":
            frame["type"] = "stream"
        return frame

    async def publish(
        self, stream: str, group: str, item_id: str | None, event: dict[str, Any], **kw: Any
    ) -> int:
        """Fan a frame out like a Motia server: one copy per matching server-side subscription.

        Returns how many copies were sent. Motia 0.x matches item subscriptions by
        stream and id only (whatever their group); iii by stream, group and id.
        """
        frame = json.dumps(self.envelope(stream, group, item_id, event, **kw))
        copies = 0
        for conn in self.open_conns:
            for s_stream, s_group, s_id in list(conn.subs.values()):
                if s_stream != stream or not conn.authed:
                    continue
                if s_id is None:
                    match = s_group == group
                elif item_id is None:
                    match = False
                else:
                    match = s_id == item_id and (self.dialect == "motia" or s_group == group)
                if match:
                    await conn.send(frame)
                    copies += 1
        return copies

    async def set(self, stream: str, group: str, item: dict[str, Any], **kw: Any) -> int:
        """Store an item and publish its create or update."""
        items = self.store.setdefault((stream, group), {})
        kind = "update" if item["id"] in items else "create"
        items[item["id"]] = item
        return await self.publish(stream, group, item["id"], {"type": kind, "data": item}, **kw)

    async def delete(self, stream: str, group: str, item_id: str, **kw: Any) -> int:
        """Remove an item and publish its delete (``data`` null when it did not exist)."""
        old = self.store.get((stream, group), {}).pop(item_id, None)
        return await self.publish(stream, group, item_id, {"type": "delete", "data": old}, **kw)

    async def emit(
        self, stream: str, group: str, event_type: str, data: Any, item_id: str | None = None
    ) -> int:
        """Publish a custom event."""
        event = {"type": "event", "event": {"type": event_type, "data": data}}
        return await self.publish(stream, group, item_id, event)

    async def send_all(self, frame: Any) -> None:
        """Send one exact frame to every open connection."""
        for conn in self.open_conns:
            await conn.send(frame)

    async def drop(self) -> None:
        """Abort every open connection (the server stays up)."""
        for conn in self.open_conns:
            conn.abort()
        await self.wait_until(lambda: not self.open_conns)

    # -- what the server saw ------------------------------------------------------

    @property
    def open_conns(self) -> list[Conn]:
        """The connections still open."""
        return [c for c in self.conns if not c.closed.is_set()]

    @property
    def joins(self) -> list[dict[str, Any]]:
        """Every join received on any connection, in order."""
        return [j for c in self.conns for j in c.joins]

    @property
    def leaves(self) -> list[dict[str, Any]]:
        """Every leave received on any connection, in order."""
        return [j for c in self.conns for j in c.leaves]

    def live_subs(self) -> int:
        """Server-side subscriptions held by open connections."""
        return sum(len(c.subs) for c in self.open_conns)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        """Wait (bounded) until ``predicate()`` holds; checked after every server event."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_conn(self, count: int = 1, timeout: float = WAIT) -> Conn:
        """Wait for the ``count``-th accepted connection; return it."""
        await self.wait_until(lambda: len(self.conns) >= count, timeout)
        return self.conns[count - 1]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def _sync(data: Any) -> dict[str, Any]:
    return {"type": "sync", "data": data}


class ThreadedServer:
    """A :class:`WsServer` on its own event loop thread, for tests of the blocking client.

    ``with ThreadedServer(...) as ts:`` starts it; ``ts.run(coro_fn)`` runs
    ``coro_fn(server)`` on the server's loop and returns the result.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-ws-server")
        self.server: WsServer

    def run(self, fn: Callable[[WsServer], Awaitable[T]], timeout: float = WAIT) -> T:
        """Run ``fn(server)`` on the server thread and wait for its result."""

        async def call() -> T:
            return await fn(self.server)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(WAIT)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()

        async def make() -> WsServer:
            server = WsServer(**self._options)
            await server.start()
            return server

        self.server = self._run(make())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run(self.server.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(WAIT)
            self._loop.close()


# -- a proxy that can freeze --------------------------------------------------------


class FreezableProxy:
    """A loopback TCP proxy to ``127.0.0.1:target_port``.

    :meth:`freeze` stops every current link from forwarding bytes, both ways,
    without closing anything: to both peers the socket looks alive and silent.
    Connections made afterwards are forwarded normally.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: list[tuple[asyncio.Event, list[asyncio.Task[None]], list[Any]]] = []

    @property
    def url(self) -> str:
        """The ``ws://`` URL through the proxy."""
        return f"ws://127.0.0.1:{self.port}/"

    async def __aenter__(self) -> FreezableProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for _, tasks, writers in self._links:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in writers:
                writer.transport.abort()
        await asyncio.wait_for(self._server.wait_closed(), WAIT)

    def freeze(self) -> None:
        """Stop forwarding on every current link, both ways, without closing."""
        for running, _, _ in self._links:
            running.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        running = asyncio.Event()
        running.set()
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(self._pump(reader, up_writer, running)),
            loop.create_task(self._pump(up_reader, writer, running)),
        ]
        self._links.append((running, tasks, [writer, up_writer]))

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, running: asyncio.Event
    ) -> None:
        try:
            while True:
                await running.wait()
                data = await reader.read(65536)
                await running.wait()  # frozen while reading: hold the bytes, forever
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if running.is_set():
                writer.transport.abort()


def envelope(
    stream: str,
    group: str,
    item_id: str | None,
    event: dict[str, Any],
    timestamp: int,
    *,
    iii: bool = False,
) -> dict[str, Any]:
    """An exact server frame, for tests that push frames by hand."""
    frame: dict[str, Any] = {
        "timestamp": timestamp,
        "streamName": stream,
        "groupId": group,
        "id": item_id,
        "event": event,
    }
    if iii:
        frame["type"] = "stream"
    return frame
