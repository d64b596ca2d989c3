"""An in-memory Motia stream server to test code that uses the stream clients.

::

    from motia_client import AsyncStreamClient
    from motia_client.testing import FakeMotiaServer

    server = FakeMotiaServer()  # Motia 0.x; FakeMotiaServer("iii") for the iii engine
    server.seed("todo", "inbox", {"id": "a", "description": "water the plants"})
    async with AsyncStreamClient(server.url, transport=server.transport) as client:
        todos = client.subscribe_group("todo", "inbox")
        await todos.wait_for(lambda items: len(items) == 1, timeout=5)
        await server.set("todo", "inbox", {"id": "b", "description": "buy oat milk"})
        assert [t["id"] for t in todos.state] == ["a", "b"]

There is no socket: :attr:`FakeMotiaServer.transport` is the client's transport
factory (``transport=``), and the URL is only a label. The server speaks
PROTOCOL.md as the real servers do: a group join gets a sync of the group, an
item join a sync of the item (Motia 0.x: nothing for a missing item; iii: a
``null`` sync), a refused join the dialect's refusal, and each frame goes out
once per matching server-side subscription (0.x keys item rooms by stream and
id only, so an item's frames also reach that id's rooms in other groups). It
stamps frames with its own clock and records what clients sent.

Faults are scripted: :meth:`~FakeMotiaServer.drop`, :meth:`~FakeMotiaServer.fail_next`,
:meth:`~FakeMotiaServer.delay_joins`, :meth:`~FakeMotiaServer.stall`,
:meth:`~FakeMotiaServer.close_on_join`, :meth:`~FakeMotiaServer.send_raw`. Not
simulated: the WebSocket handshake itself, TLS, proxies and keepalive pings.

Every method that sends frames is a coroutine that returns once the frames were
handed to the clients: their synchronous listeners have run when ``await
server.set(...)`` returns (async listeners are started, not finished).

**One event loop.** A server belongs to the loop its first client connects on
(or its first awaited method runs on); await its methods on that loop.
:class:`~motia_client.StreamClient` runs its own loop in a private thread: from
the test's thread, reach the server through :meth:`FakeMotiaServer.call`
(``server.call(server.set, "todo", "inbox", item)``), which runs the method on
that loop and waits for it. :meth:`~FakeMotiaServer.seed` may be called from
any thread before a client connects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec, TypeVar, overload

from motia_client._auth import Credentials
from motia_client._exceptions import FrameTooLarge, MotiaConnectionError
from motia_client._transport import (
    ConnectRequest,
    MessageInbox,
    Transport,
    server_closed,
    upgrade_refused,
)

__all__ = ["ConnectAttempt", "FakeConnection", "FakeMotiaServer"]

logger = logging.getLogger("motia_client.testing")

Dialect = Literal["motia", "iii"]
Room = tuple[str, str, str | None]
"""A server-side subscription target: ``(stream, group, item_id or None)``."""

T = TypeVar("T")
P = ParamSpec("P")
WAIT = 5.0  # seconds: the default bound of every wait


def _dumps(value: Any) -> str:
    """Compact JSON, as the real servers send it (NaN and infinities are refused)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _json_copy(value: Any, what: str) -> Any:
    """A deep copy of ``value`` through JSON: what a client would receive, checked."""
    try:
        return json.loads(_dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable: {exc}") from None


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, not {value!r}")
    return value


def _presented_token(credentials: Credentials) -> str | None:
    """The token a connection attempt presents, whichever of the three ways it travels."""
    for name, value in credentials.headers:
        scheme, _, token = value.partition(" ")
        if name.lower() == "authorization" and scheme.lower() == "bearer" and token:
            return token
    protocols = credentials.subprotocols
    if len(protocols) > 1 and protocols[0] == "Authorization":
        return protocols[1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(credentials.url).query)
    found = query.get("authToken")
    return found[-1] if found else None


@dataclass(frozen=True)
class ConnectAttempt:
    """One call of the transport factory, and how the server answered it.

    ``status`` is 101 for an accepted connection, 401 for a refused token, and
    ``None`` for an attempt failed by :meth:`FakeMotiaServer.fail_next` or a
    closed server (``error`` is what the factory raised).
    """

    request: ConnectRequest
    token: str | None = field(repr=False)
    status: int | None
    error: BaseException | None = None


@dataclass(frozen=True)
class _Rule:
    """Matches joins: a whole stream, a group (its item rooms too) or one item room."""

    stream: str
    group: str | None = None
    item_id: str | None = None

    def matches(self, room: Room) -> bool:
        stream, group, item_id = room
        return (
            stream == self.stream
            and (self.group is None or group == self.group)
            and (self.item_id is None or item_id == self.item_id)
        )


class _ClientEnd(MessageInbox):
    """The client's side of a :class:`FakeConnection`: a ``PushTransport``."""

    def __init__(self, conn: FakeConnection) -> None:
        super().__init__()
        self._conn = conn
        self.error: MotiaConnectionError | FrameTooLarge | None = None
        self.stopped = False  # closed by the client: frames still queued are not delivered

    def _push(self, message: bytes) -> None:
        if not self.stopped:
            super()._push(message)

    async def send(self, text: str) -> None:
        """Hand one frame to the server (it answers synchronously, or queues it)."""
        if self._conn.closed:
            raise self._lost()
        self._conn._from_client(text)

    async def recv(self) -> str | bytes:
        """The next frame (before ``start_reading``); raise when the connection ended."""
        return await self.next_message(self._lost)

    async def wait_closed(self) -> None:
        """Raise, as the real transport does, once the connection has ended."""
        await self.wait_ended(self._lost)

    async def close(self) -> None:
        """The client closes the connection (code 1000)."""
        await self._conn._closed_by_client(1000)

    def _lost(self) -> MotiaConnectionError | FrameTooLarge:
        if self.error is None:
            url = self._conn.request.safe_url
            self.error = MotiaConnectionError(f"the connection was closed: {url}")
        return self.error


class FakeConnection:
    """One accepted connection, seen from the server: what it received, what it holds.

    ``received`` holds every frame the client sent, decoded, in order;
    ``subscriptions`` the live server-side subscriptions (``subscriptionId`` to
    room). ``close_code`` is set once the connection is closed (``None`` for a
    drop without a close frame) and ``closed_by`` says by whom.
    """

    def __init__(
        self,
        server: FakeMotiaServer,
        request: ConnectRequest,
        token: str | None,
        authorized: bool,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.server = server
        self.request = request
        self.token = token
        self.authorized = authorized  # False: an iii connection with a wrong token
        self.received: list[dict[str, Any]] = []
        self.closed = False
        self.close_code: int | None = None
        self.closed_by: Literal["client", "server"] | None = None
        self._subs: dict[str, Room] = {}
        self._loop = loop
        self._end = _ClientEnd(self)
        self._queue: deque[dict[str, Any]] = deque()  # frames behind a slow join
        self._worker: asyncio.Task[None] | None = None
        self._outbox: deque[bytes | None] = deque()  # to the client; None: the end
        self._pumping = False

    @property
    def joins(self) -> list[dict[str, Any]]:
        """The ``data`` of every join this connection sent, in order."""
        return [f["data"] for f in self.received if f.get("type") == "join"]

    @property
    def leaves(self) -> list[dict[str, Any]]:
        """The ``data`` of every leave this connection sent, in order."""
        return [f["data"] for f in self.received if f.get("type") == "leave"]

    @property
    def subscriptions(self) -> dict[str, Room]:
        """The live server-side subscriptions: ``subscriptionId`` to ``(stream, group, id)``."""
        return dict(self._subs)

    @property
    def pending(self) -> int:
        """Frames received and not handled yet: queued behind a join being checked."""
        return len(self._queue)

    async def send_raw(self, *frames: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Send exact frames, in order, to this client: text, bytes (binary) or JSON data."""
        self.server._bind()
        for data in [_wire(frame) for frame in frames]:
            self._send(data)
        await _flush()

    async def disconnect(self, code: int | None = None) -> None:
        """End the connection from the server: with a close ``code``, or dropped if ``None``."""
        self.server._bind()
        self._close_by_server(code)
        await _flush()

    # -- the server's side ----------------------------------------------------------

    def _send(self, data: bytes) -> None:
        """Queue one frame to the client, after those queued before it."""
        if self.closed:
            return
        if len(data) > self.request.max_size:
            # The client's own limit: its transport closes with 1009 and reports FrameTooLarge.
            self._end.error = FrameTooLarge(self.request.max_size)
            self._close(1009, "client")
            return
        self._deliver(data)

    def _deliver(self, data: bytes | None) -> None:
        """Hand ``data`` (``None``: the end) to the client at the loop's next turn, in order."""
        self._outbox.append(data)
        if not self._pumping:
            self._pumping = True
            self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        self._pumping = False
        outbox, end = self._outbox, self._end
        while outbox:
            data = outbox.popleft()
            if data is None:
                end._end()
            else:
                end._push(data)

    def _from_client(self, text: object) -> None:
        frame: Any = None
        if isinstance(text, str):
            try:
                frame = json.loads(text)
            except ValueError:
                frame = None
        if not isinstance(frame, dict):
            # Motia 0.x crashes on a text frame that is not JSON: a client must never send one.
            self.server.bad_frames.append(text)  # type: ignore[arg-type]
            logger.warning("FakeMotiaServer: a client sent a frame that is not a JSON object")
            self.server._notify()
            return
        self.received.append(frame)
        is_join = frame.get("type") == "join"
        if self._queue or (is_join and self.server._join_delay > 0):
            self._queue.append(frame)  # in order, behind the joins being checked
            if self._worker is None:
                self._worker = self._loop.create_task(self._work(), name="fake-motia-joins")
        else:
            self.server._handle(self, frame)
        self.server._notify()

    async def _work(self) -> None:
        """Handle queued frames one at a time, each join after the access-check delay."""
        try:
            while self._queue and not self.closed:
                delay = self.server._join_delay
                if self._queue[0].get("type") == "join" and delay > 0:
                    await asyncio.sleep(delay)  # a close cancels this task
                self.server._handle(self, self._queue.popleft())
                self.server._notify()
        finally:
            self._worker = None

    def _close_by_server(self, code: int | None) -> None:
        if self.closed:
            return
        url = self.request.safe_url
        if code is None:
            self._end.error = MotiaConnectionError(f"the connection was lost: {url}")
        else:
            self._end.error = server_closed(code, url)  # as the websockets transport says it
        self._close(code, "server")

    def _close(self, code: int | None, by: Literal["client", "server"]) -> None:
        """No frame goes out after this; the client learns it after the frames queued."""
        self.closed = True
        self.close_code = code
        self.closed_by = by
        self._subs.clear()
        self._queue.clear()
        if self._worker is not None:
            self._worker.cancel()
        self._deliver(None)
        self.server._notify()

    async def _closed_by_client(self, code: int) -> None:
        self._end.stopped = True
        if not self.closed:
            self._close(code, "client")
        self._end._end()
        worker = self._worker
        if worker is not None:
            await asyncio.wait({worker})

    def __repr__(self) -> str:
        state = "open" if not self.closed else f"closed by {self.closed_by} ({self.close_code})"
        return (
            f"<FakeConnection {self.request.safe_url} {state} "
            f"subscriptions={len(self._subs)} received={len(self.received)}>"
        )


def _wire(frame: str | bytes | dict[str, Any] | list[Any]) -> bytes:
    """The bytes of one frame: text as UTF-8, bytes as they are, anything else as JSON."""
    if isinstance(frame, bytes):
        return frame
    text = frame if isinstance(frame, str) else _dumps(frame)
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise ValueError("a text frame must be valid UTF-8 (no lone surrogates)") from None


async def _flush() -> None:
    """Let the frames queued with ``call_soon`` reach the clients before returning."""
    await asyncio.sleep(0)


class FakeMotiaServer:
    """An in-memory Motia stream server; ``transport=server.transport`` connects a client to it.

    ``dialect``: ``"motia"`` (0.x) or ``"iii"``. ``token``: when set, a connection
    must present it (any of the three ways): Motia 0.x refuses the upgrade (the
    client gets :class:`~motia_client.AuthenticationError`, or a plain
    :class:`~motia_client.MotiaConnectionError` when no token was sent), the iii
    engine accepts the connection and refuses every join. ``streams``: when
    given, joins to any other stream are refused as the dialect refuses an
    unknown stream. ``clock``: milliseconds for the frames' timestamps (default:
    the wall clock, never going back). ``echo_state_events``: also send each
    state change as a custom event of the same type and timestamp, as Motia 0.17
    with its Redis adapter does. ``answer_joins=False`` leaves joins unanswered
    (no sync, no refusal; frames still fan out to them): the test sends exact
    frames itself with :meth:`send_raw`. ``call_timeout`` bounds :meth:`call`.
    The options are attributes too, and may be changed at any time.
    """

    url = "ws://motia.invalid/"
    """A URL for the clients (any ``ws://`` URL works: the transport ignores it)."""

    def __init__(
        self,
        dialect: Dialect = "motia",
        token: str | None = None,
        *,
        streams: Iterable[str] | None = None,
        clock: Callable[[], int] | None = None,
        echo_state_events: bool = False,
        answer_joins: bool = True,
        call_timeout: float = 30.0,
    ) -> None:
        if dialect not in ("motia", "iii"):
            raise ValueError(f"dialect must be 'motia' or 'iii', not {dialect!r}")
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("token must be a non-empty string or None")
        self.dialect: Dialect = dialect
        self.token = token  #: the token connections must present; may be changed at any time
        self.streams = None if streams is None else frozenset(streams)
        self.echo_state_events = echo_state_events
        self.answer_joins = answer_joins
        self.call_timeout = call_timeout
        self.attempts: list[ConnectAttempt] = []  #: every connection attempt, in order
        self.connections: list[FakeConnection] = []  #: every accepted connection, in order
        self.bad_frames: list[str | bytes] = []  #: frames from clients that were not JSON objects
        self._clock = clock
        self._last_ms = 0
        self._store: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._refusals: list[_Rule] = []
        self._closers: list[tuple[_Rule, int]] = []
        self._stalled: list[tuple[str, str]] = []
        self._failures = 0
        self._failure: BaseException | None = None
        self._join_delay = 0.0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[asyncio.Future[None]] = []

    # -- the transport factory ------------------------------------------------------------

    @property
    def transport(self) -> Callable[[ConnectRequest], Awaitable[Transport]]:
        """The transport factory to pass as ``AsyncStreamClient(url, transport=...)``."""
        return self.connect

    async def __call__(self, request: ConnectRequest) -> Transport:
        """The server is a transport factory too: ``transport=server`` works."""
        return await self.connect(request)

    async def connect(self, request: ConnectRequest) -> Transport:
        """One connection attempt: accept it, or raise what the real transport would."""
        loop = self._bind()
        token = _presented_token(request.credentials)
        url = request.safe_url
        error: BaseException | None = None
        if self._closed:
            error = MotiaConnectionError(f"could not connect to {url}: the fake server is closed")
        elif self._failures:
            self._failures -= 1
            error = self._failure or MotiaConnectionError(
                f"could not connect to {url}: refused by FakeMotiaServer.fail_next()"
            )
        if error is not None:
            self.attempts.append(ConnectAttempt(request, token, None, error))
            self._notify()
            raise error.with_traceback(None)
        authorized = self.token is None or token == self.token
        if not authorized and self.dialect == "motia":
            error = upgrade_refused(401, url, token is not None)
            self.attempts.append(ConnectAttempt(request, token, 401, error))
            self._notify()
            raise error
        conn = FakeConnection(self, request, token, authorized, loop)
        self.connections.append(conn)
        self.attempts.append(ConnectAttempt(request, token, 101))
        self._notify()
        return conn._end

    # -- the store --------------------------------------------------------------------------

    def seed(self, stream: str, group: str, *items: dict[str, Any], replace: bool = False) -> None:
        """Store items (by id) without sending anything: the next join sees them.

        For setting up before clients connect (from any thread), or for a change
        the clients miss (made while they are disconnected, say). ``replace``:
        the group holds exactly ``items`` afterwards. Use :meth:`set` and
        :meth:`delete` to tell the clients.
        """
        checked = [self._checked_item(item) for item in items]
        key = (_check_name(stream, "stream"), _check_name(group, "group"))
        if replace:
            self._store[key] = {}
        group_items = self._store.setdefault(key, {})
        for item_id, copy in checked:
            group_items[item_id] = copy

    def items(self, stream: str, group: str) -> list[dict[str, Any]]:
        """A copy of the group's items now, in the order of a group sync."""
        items: list[dict[str, Any]] = _json_copy(
            list(self._store.get((stream, group), {}).values()), "items"
        )
        return items

    def item(self, stream: str, group: str, item_id: str) -> dict[str, Any] | None:
        """A copy of one item now, or ``None``."""
        found = self._store.get((stream, group), {}).get(item_id)
        return None if found is None else dict(_json_copy(found, "item"))

    async def set(
        self, stream: str, group: str, item: dict[str, Any], *, timestamp: int | None = None
    ) -> int:
        """Store ``item`` (it carries its ``"id"``) and send its create or update.

        Returns how many copies were sent (one per matching server-side subscription).
        """
        self._bind()
        _check_name(stream, "stream")
        _check_name(group, "group")
        item_id, copy = self._checked_item(item)
        stamp = self._stamp(timestamp)
        items = self._store.setdefault((stream, group), {})
        kind = "update" if item_id in items else "create"
        items[item_id] = copy
        return await self._state(stream, group, item_id, kind, copy, stamp)

    async def delete(
        self, stream: str, group: str, item_id: str, *, timestamp: int | None = None
    ) -> int:
        """Remove an item and send its delete (``data`` is its last value, ``null`` if none)."""
        self._bind()
        _check_name(stream, "stream")
        _check_name(group, "group")
        _check_name(item_id, "item_id")
        stamp = self._stamp(timestamp)
        old = self._store.get((stream, group), {}).pop(item_id, None)
        return await self._state(stream, group, item_id, "delete", old, stamp)

    async def send_event(
        self,
        stream: str,
        group: str,
        event_type: str,
        data: Any = None,
        *,
        item_id: str | None = None,
        timestamp: int | None = None,
    ) -> int:
        """Send a custom event to a group (or, with ``item_id``, to an item and its group)."""
        self._bind()
        _check_name(stream, "stream")
        _check_name(group, "group")
        _check_name(event_type, "event_type")
        if item_id is not None:
            _check_name(item_id, "item_id")
        event = {"type": "event", "event": {"type": event_type, "data": data}}
        frame = self._frame(stream, group, item_id, event, self._stamp(timestamp))
        copies = self._fan_out(stream, group, item_id, frame)
        await _flush()
        return copies

    async def sync_group(self, stream: str, group: str, *, timestamp: int | None = None) -> int:
        """Send the group's items now, as a sync, to every subscription of that group."""
        self._bind()
        _check_name(stream, "stream")
        _check_name(group, "group")
        frame = self._frame(
            stream,
            group,
            None,
            _sync(list(self._store.get((stream, group), {}).values())),
            self._stamp(timestamp),
        )
        copies = self._fan_out(stream, group, None, frame)
        await _flush()
        return copies

    async def _state(
        self, stream: str, group: str, item_id: str, kind: str, data: Any, stamp: int
    ) -> int:
        frame = self._frame(stream, group, item_id, {"type": kind, "data": data}, stamp)
        copies = self._fan_out(stream, group, item_id, frame)
        if self.echo_state_events:
            echo = {"type": "event", "event": {"type": kind, "data": data}}
            self._fan_out(stream, group, item_id, self._frame(stream, group, item_id, echo, stamp))
        await _flush()
        return copies

    def _checked_item(self, item: object) -> tuple[str, dict[str, Any]]:
        if not isinstance(item, dict):
            raise TypeError(f"an item must be a dict (a JSON object), not {type(item).__name__}")
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise ValueError(f"an item must carry a non-empty string 'id', not {item_id!r}")
        copy: dict[str, Any] = _json_copy(item, "an item")
        return item_id, copy

    # -- frames out ---------------------------------------------------------------------------

    def envelope(
        self,
        stream: str,
        group: str,
        item_id: str | None,
        event: dict[str, Any],
        timestamp: int | None = None,
    ) -> dict[str, Any]:
        """A server frame in this server's dialect (for :meth:`send_raw`)."""
        frame: dict[str, Any] = {"type": "stream"} if self.dialect == "iii" else {}
        frame["timestamp"] = self._stamp(timestamp)
        frame["streamName"] = stream
        frame["groupId"] = group
        if item_id is not None:
            frame["id"] = item_id
        frame["event"] = event
        return frame

    def _frame(
        self, stream: str, group: str, item_id: str | None, event: dict[str, Any], stamp: int
    ) -> bytes:
        try:
            text = _dumps(self.envelope(stream, group, item_id, event, stamp))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the frame's data must be JSON-serialisable: {exc}") from None
        return text.encode()

    def _stamp(self, timestamp: int | None) -> int:
        if timestamp is not None:
            if type(timestamp) is not int or timestamp < 0:
                raise ValueError(f"timestamp must be an int >= 0 (ms), not {timestamp!r}")
            return timestamp
        if self._clock is not None:
            return int(self._clock())
        self._last_ms = max(self._last_ms, time.time_ns() // 1_000_000)
        return self._last_ms

    def _fan_out(self, stream: str, group: str, item_id: str | None, frame: bytes) -> int:
        """Send ``frame`` once per matching server-side subscription (PROTOCOL.md section 4)."""
        if (stream, group) in self._stalled:
            return 0
        spans_groups = self.dialect == "motia"  # 0.x keys item rooms by stream and id only
        copies = 0
        for conn in self.open_connections:
            for s_stream, s_group, s_id in list(conn._subs.values()):
                if s_stream != stream:
                    continue
                if s_id is None:
                    match = s_group == group
                else:
                    match = s_id == item_id and (spans_groups or s_group == group)
                if match:
                    conn._send(frame)
                    copies += 1
        return copies

    async def send_raw(self, *frames: str | bytes | dict[str, Any] | list[Any]) -> int:
        """Send exact frames, in order, to every open connection; return how many got them.

        ``str`` goes as a text frame, ``bytes`` as a binary frame, anything else
        JSON-encoded. Nothing else is checked: malformed frames are the point.
        """
        self._bind()
        wire = [_wire(frame) for frame in frames]  # all encodable, or none is sent
        conns = self.open_connections
        for conn in conns:
            for data in wire:
                conn._send(data)
        await _flush()
        return len(conns)

    # -- frames in ----------------------------------------------------------------------------

    def _handle(self, conn: FakeConnection, frame: dict[str, Any]) -> None:
        """Answer one frame as the real servers do (unknown or malformed ones are ignored)."""
        data = frame.get("data")
        if not isinstance(data, dict) or conn.closed:
            return
        sub_id = data.get("subscriptionId")
        if frame.get("type") == "leave":
            if isinstance(sub_id, str):
                conn._subs.pop(sub_id, None)
            return
        stream, group, item_id = data.get("streamName"), data.get("groupId"), data.get("id")
        if (
            frame.get("type") != "join"
            or not isinstance(sub_id, str)
            or not isinstance(stream, str)
            or not isinstance(group, str)
            or not (item_id is None or isinstance(item_id, str))
        ):
            return
        room: Room = (stream, group, item_id)
        if not self.answer_joins:
            conn._subs[sub_id] = room
            return
        for rule, code in self._closers:
            if rule.matches(room):
                conn._close_by_server(code)
                return
        refusal = self._refusal(conn, room)
        stamp = self._stamp(None)
        if refusal:
            for event in refusal:
                conn._send(self._frame(stream, group, item_id, event, stamp))
            return
        items = self._store.get((stream, group), {})
        if item_id is None:
            conn._send(self._frame(stream, group, None, _sync(list(items.values())), stamp))
        elif item_id in items or self.dialect == "iii":  # 0.x: nothing for a missing item
            conn._send(self._frame(stream, group, item_id, _sync(items.get(item_id)), stamp))
        conn._subs[sub_id] = room

    def _refusal(self, conn: FakeConnection, room: Room) -> list[dict[str, Any]]:
        """The events refusing a join to ``room`` on ``conn``, or ``[]`` to accept it."""
        if self.dialect == "iii":
            refused = (
                not conn.authorized
                or (self.streams is not None and room[0] not in self.streams)
                or any(rule.matches(room) for rule in self._refusals)
            )
            return [{"type": "unauthorized"}] if refused else []
        if self.streams is not None and room[0] not in self.streams:
            return [_denied(f"Stream {room[0]} not found"), _denied("Access denied")]
        if any(rule.matches(room) for rule in self._refusals):
            return [_denied("Access denied")]
        return []

    # -- refusals and faults -----------------------------------------------------------------

    def refuse(
        self, stream: str, group: str | None = None, item_id: str | None = None
    ) -> Callable[[], None]:
        """Refuse joins from now on: a whole stream, a group (with its items) or one item.

        The refusal takes the dialect's form (0.x: a ``STREAM_ACCESS_DENIED`` error
        event; iii: ``unauthorized``). Returns a function that lifts it.
        """
        rule = _Rule(_check_name(stream, "stream"), group, item_id)
        self._refusals.append(rule)
        return lambda: _discard(self._refusals, rule)

    def close_on_join(self, stream: str, group: str | None, code: int = 1008) -> Callable[[], None]:
        """Close the connection with ``code``, unanswered, when that group (or stream) is joined.

        The client sees ``MotiaConnectionError`` with ``close_code=code``. Returns a
        function that stops it.
        """
        entry = (_Rule(_check_name(stream, "stream"), group), code)
        self._closers.append(entry)
        return lambda: _discard(self._closers, entry)

    def stall(self, stream: str, group: str) -> Callable[[], None]:
        """Stop delivering the group's frames to open connections (joins are still answered).

        The connection stays up: the client cannot tell a stall from a quiet group.
        Frames sent meanwhile are lost. Returns a function that resumes delivery.
        """
        room = (_check_name(stream, "stream"), _check_name(group, "group"))
        self._stalled.append(room)
        return lambda: _discard(self._stalled, room)

    def fail_next(self, count: int = 1, error: BaseException | None = None) -> None:
        """Make the next ``count`` connection attempts fail (0 stops it).

        The transport factory raises ``error`` (default: a ``MotiaConnectionError``
        as for a refused connection), which the client retries per its policy.
        """
        if type(count) is not int or count < 0:
            raise ValueError(f"count must be an int >= 0, not {count!r}")
        self._failures = count
        self._failure = error

    def delay_joins(self, seconds: float) -> None:
        """Answer each join ``seconds`` after the previous one, per connection (0 stops it).

        As a slow access check does: joins are handled one at a time, in order,
        and frames sent behind a join wait for it.
        """
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, not {seconds!r}")
        self._join_delay = float(seconds)

    async def drop(self) -> int:
        """Drop every open connection without a close frame; return how many were dropped."""
        self._bind()
        conns = self.open_connections
        for conn in conns:
            conn._close_by_server(None)
        await _flush()
        return len(conns)

    async def close(self) -> None:
        """Close every connection (code 1001, going away) and refuse new ones."""
        self._bind()
        self._closed = True
        for conn in self.open_connections:
            conn._close_by_server(1001)
        workers = [c._worker for c in self.connections if c._worker is not None]
        if workers:
            await asyncio.wait(workers)
        await _flush()

    async def __aenter__(self) -> FakeMotiaServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- what the server saw --------------------------------------------------------------------

    @property
    def open_connections(self) -> list[FakeConnection]:
        """The connections still open."""
        return [conn for conn in self.connections if not conn.closed]

    @property
    def joins(self) -> list[dict[str, Any]]:
        """The ``data`` of every join received, on any connection, in order."""
        return [join for conn in self.connections for join in conn.joins]

    @property
    def leaves(self) -> list[dict[str, Any]]:
        """The ``data`` of every leave received, on any connection, in order."""
        return [leave for conn in self.connections for leave in conn.leaves]

    @property
    def subscriptions(self) -> list[Room]:
        """Every live server-side subscription's room (a room joined twice is listed twice)."""
        return [room for conn in self.open_connections for room in conn._subs.values()]

    # -- waiting ------------------------------------------------------------------------------

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = WAIT, what: str = ""
    ) -> None:
        """Wait until ``predicate()`` holds, checked after each server event; bounded.

        Server events: a connection attempt, a frame received or handled, a
        connection closed. Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        loop = self._bind()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"FakeMotiaServer: {what or 'the condition'} not reached within {timeout} s "
                    f"({len(self.attempts)} attempts, {len(self.open_connections)} open "
                    f"connections, {len(self.joins)} joins, {len(self.leaves)} leaves)"
                )
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                if not waiter.done():
                    waiter.cancel()
                    _discard(self._waiters, waiter)

    async def wait_for_joins(self, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
        """Wait until ``count`` joins were received in all; return every join's ``data``."""
        await self.wait_until(lambda: len(self.joins) >= count, timeout, f"{count} joins")
        return self.joins

    async def wait_for_leaves(self, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
        """Wait until ``count`` leaves were received in all; return every leave's ``data``."""
        await self.wait_until(lambda: len(self.leaves) >= count, timeout, f"{count} leaves")
        return self.leaves

    async def wait_for_connections(self, count: int, timeout: float = WAIT) -> FakeConnection:
        """Wait for the ``count``-th accepted connection; return it."""
        await self.wait_until(
            lambda: len(self.connections) >= count, timeout, f"{count} connections"
        )
        return self.connections[count - 1]

    async def wait_for_attempts(self, count: int, timeout: float = WAIT) -> list[ConnectAttempt]:
        """Wait until ``count`` connection attempts were made; return them all."""
        await self.wait_until(lambda: len(self.attempts) >= count, timeout, f"{count} attempts")
        return self.attempts

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- threads and loops --------------------------------------------------------------------

    def _bind(self) -> asyncio.AbstractEventLoop:
        """The running loop, which must be the server's (the first one that used it)."""
        loop = asyncio.get_running_loop()
        bound = self._loop
        if bound is None or bound.is_closed():
            self._loop = loop
        elif bound is not loop:
            raise RuntimeError(
                "this FakeMotiaServer belongs to another event loop (the one its first "
                "client connected on): await its methods there, or from another thread "
                "use server.call(method, *args); a StreamClient needs a server of its own"
            )
        return loop

    @overload
    def call(
        self, fn: Callable[P, Coroutine[Any, Any, T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...
    @overload
    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...
    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the server's loop from another thread; wait for it.

        For tests of :class:`~motia_client.StreamClient`, whose loop runs in a
        private thread: ``server.call(server.set, "todo", "inbox", item)``. A
        coroutine is awaited there. Waits at most ``call_timeout`` seconds. Before
        any client connected, ``fn`` runs in the calling thread.
        """
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or loop.is_closed():  # no client yet: nothing else uses the server
            result = fn(*args, **kwargs)
            if not inspect.iscoroutine(result):
                return result
            if running is None:
                return asyncio.run(result)
            result.close()
            raise RuntimeError("call() blocks: in a running event loop, await the method")
        if running is loop:
            raise RuntimeError("call() blocks: on the server's own loop, await the method")

        async def run() -> Any:
            result = fn(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        future = asyncio.run_coroutine_threadsafe(run(), loop)
        try:
            return future.result(self.call_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(
                f"FakeMotiaServer.call({getattr(fn, '__name__', fn)!r}) took over "
                f"{self.call_timeout} s"
            ) from None

    def __repr__(self) -> str:
        return (
            f"<FakeMotiaServer {self.dialect} connections={len(self.open_connections)} open"
            f"/{len(self.connections)} joins={len(self.joins)}>"
        )


def _sync(data: Any) -> dict[str, Any]:
    return {"type": "sync", "data": data}


def _denied(message: str) -> dict[str, Any]:
    """Motia 0.x's refusal: a custom ``error`` event (its one code for every socket error)."""
    error = {"code": "STREAM_ACCESS_DENIED", "message": message}
    return {"type": "event", "event": {"type": "error", "data": error}}


def _discard(values: list[Any], value: Any) -> None:
    """Remove ``value`` (the very object) from ``values``; nothing if it is gone already."""
    for index, held in enumerate(values):
        if held is value:
            del values[index]
            return
