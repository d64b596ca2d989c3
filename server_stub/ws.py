"""The stream WebSocket at ``/``: auth at connect, joins and leaves in order, bounded sends.

Each socket has a reader (the ASGI handler itself) that processes client frames one
at a time, and a writer task that drains a queue of encoded frames bounded in bytes
(``max_queue_bytes``, and ``max_queue`` frames). The store calls
:meth:`Connection.deliver` synchronously, so fan-out never waits on a client; a
client whose queue overflows is a slow consumer: its queue is dropped and it gets a
close frame 1013 ("try again later") at once, and the TCP connection is dropped if
it does not answer within a grace period. It resyncs on reconnect; the server and
the other clients never wait for it.
Frames that are not JSON or not a known message are logged (without their content)
and ignored; they never close the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from ._uvicorn import ABORT_EXTENSION
from .auth import SOCKET_WAYS, chosen_subprotocol, token_from_request
from .context import AppContext
from .errors import StoreUnavailable
from .frames import CLOCK, STATE_KINDS, Frame, Room, not_found_events, refusal_event
from .limits import HOOK_TIMEOUT_SECONDS, MAX_NAME_CHARS, MAX_SUBSCRIPTIONS_PER_SOCKET
from .logs import RateLimitedLog
from .store import SubscriptionToken
from .streams import AuthContext, JoinResult, StreamConfig, Subscription

log = logging.getLogger("server_stub.ws")

SLOW_CONSUMER_CODE = 1013  # "try again later": the client reconnects and resyncs
SLOW_CONSUMER_REASON = "send queue overflow: the client is not reading fast enough"
LOST_FRAMES_CODE = 1012  # "service restart": the client reconnects and resyncs
LOST_FRAMES_REASON = "the server may have lost stream frames: reconnect to resync"
STORE_DOWN_CODE = 1013
STORE_DOWN_REASON = "the stream store is unavailable: retry later"

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


class RoomData(BaseModel):
    """The ``data`` of a join or leave frame."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    streamName: Name
    groupId: Name
    id: Annotated[str, Field(max_length=MAX_NAME_CHARS)] | None = None
    subscriptionId: Name

    @property
    def room(self) -> Room:
        """The room joined; an empty ``id`` means the group, as in the official clients."""
        return Room(self.streamName, self.groupId, self.id or None)


class ClientMessage(BaseModel):
    """A join or a leave."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["join", "leave"]
    data: RoomData


@dataclass
class _Active:
    subscription: Subscription
    room: Room
    token: SubscriptionToken
    config: StreamConfig | None


def _extension(websocket: WebSocket, name: str) -> Callable[..., None] | None:
    """A call of our uvicorn protocol's scope extension, when running under it."""
    extensions = websocket.scope.get("extensions") or {}
    entry = extensions.get(ABORT_EXTENSION)
    call = entry.get(name) if isinstance(entry, dict) else None
    return call if callable(call) else None


def _text_bytes(text: str) -> int:
    """The UTF-8 size of a frame's text (its length when ASCII, the usual case)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Connection:
    """One client socket: its subscriptions, its send queue and its auth context."""

    def __init__(
        self, websocket: WebSocket, ctx: AppContext, auth: AuthContext | None, peer: str
    ) -> None:
        self.peer = peer
        self.auth = auth
        self.subscriptions: dict[str, _Active] = {}
        self.done = asyncio.Event()
        self._ws = websocket
        self._ctx = ctx
        self._frames: deque[tuple[str, int]] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._close_request: tuple[int, str] | None = None
        self._aborted = False
        self._abort = _extension(websocket, "abort")
        self._close_now = _extension(websocket, "close_now")

    @property
    def queued_bytes(self) -> int:
        """The bytes of encoded frames waiting to be sent."""
        return self._queued_bytes

    # -- sending ---------------------------------------------------------------

    def deliver(self, frame: Frame) -> None:
        """The store's sink: encode for the dialect and queue (never blocks).

        A stalled group delivers nothing but syncs (``stalls``); with
        ``echo_state_events`` a state frame is followed by its custom-event echo.
        """
        ctx = self._ctx
        kind = frame.event.get("type")
        if ctx.stalls and kind != "sync" and (frame.stream, frame.group) in ctx.stalls:
            return
        text = ctx.encoder.encode(frame)
        if text is not None:
            self.push(text)
        if ctx.echo_state_events and kind in STATE_KINDS:
            echo = ctx.encoder.encode_echo(frame)
            if echo is not None:
                self.push(echo)

    def push(self, text: str) -> None:
        """Queue one encoded frame; drop the client as a slow consumer if it does not fit.

        A frame always fits an empty queue, whatever its size (a big group sync);
        otherwise the queue holds at most ``max_queue_bytes`` and ``max_queue`` frames.
        """
        if self._aborted or self._close_request is not None:
            return
        size = _text_bytes(text)
        if self._frames and (
            self._queued_bytes + size > self._ctx.max_queue_bytes
            or len(self._frames) >= self._ctx.max_queue
        ):
            self.drop_slow_consumer(size)
            return
        self._frames.append((text, size))
        self._queued_bytes += size
        self._wakeup.set()

    def drop_slow_consumer(self, incoming: int = 0) -> None:
        """Forget the queue and close with 1013 now (abort if the client does not answer)."""
        log.warning(
            "client %s is not reading fast enough (%d frames, %d bytes queued, %d more "
            "arriving; the limit is %d bytes or %d frames): closing it with 1013",
            self.peer,
            len(self._frames),
            self._queued_bytes,
            incoming,
            self._ctx.max_queue_bytes,
            self._ctx.max_queue,
        )
        self._frames.clear()
        self._queued_bytes = 0
        if self._close_now is None:  # not under our uvicorn protocol
            self.abort()
            return
        self._close_request = (SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON)
        self._close_now(SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close gracefully once the queued frames are sent."""
        if self._close_request is None and not self._aborted:
            self._close_request = (code, reason)
            self._wakeup.set()

    def abort(self) -> None:
        """Drop the TCP connection now, without a close frame (queued frames are lost)."""
        if self._aborted:
            return
        self._aborted = True
        self._frames.clear()
        self._queued_bytes = 0
        if self._abort is not None:
            self._abort()
        else:  # not under our uvicorn protocol: the best we can do is a close frame
            self._close_request = (SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON)
            self._wakeup.set()

    async def write_loop(self) -> None:
        """Send queued frames in order; then the close frame, if one was requested."""
        try:
            while True:
                if self._frames:
                    text, size = self._frames.popleft()
                    self._queued_bytes -= size
                    await self._ws.send_text(text)
                    # Yield between frames: other sockets get their turn, and a lost
                    # connection is noticed before we write to it again.
                    await asyncio.sleep(0)
                elif self._close_request is not None:
                    await self._ws.close(*self._close_request)
                    return
                else:
                    self._wakeup.clear()
                    await self._wakeup.wait()
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.debug("writer for %s stopped: %s", self.peer, type(exc).__name__)
        except Exception:
            # A frame that cannot be sent must not leave the socket open and silent:
            # drop it, so the client reconnects and resyncs.
            log.exception("could not send to %s; dropping the connection", self.peer)
            self.abort()

    # -- receiving -------------------------------------------------------------

    async def read_loop(self) -> None:
        """Handle client frames one at a time until the socket goes away."""
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text: str | None = message.get("text")
            if text is None and message.get("bytes") is not None:
                try:
                    text = bytes(message["bytes"]).decode("utf-8")
                except UnicodeDecodeError:
                    log.warning("ignored a binary frame from %s: not UTF-8", self.peer)
                    continue
            if text is not None:
                await self.handle_text(text)

    async def handle_text(self, text: str) -> None:
        """Parse one frame and run it; anything wrong is logged and ignored."""
        try:
            message = ClientMessage.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ())) or "frame"
            log.warning(
                "ignored a frame from %s (%d chars): %s at %s",
                self.peer,
                len(text),
                first.get("type"),
                where,
            )
            return
        try:
            if message.type == "join":
                await self.join(message.data)
            else:
                await self.leave(message.data)
        except Exception:
            log.exception("failed to handle a %s from %s", message.type, self.peer)

    def _send_event(self, room: Room, event: dict[str, Any]) -> None:
        self.deliver(Frame(CLOCK.now(), room.stream, room.group, room.item_id, event))

    async def join(self, data: RoomData) -> None:
        """Run the stream's ``on_join``; refuse, or subscribe (the sync comes first)."""
        room = data.room
        if data.subscriptionId in self.subscriptions:
            log.warning("ignored a join from %s reusing an active subscriptionId", self.peer)
            return
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS_PER_SOCKET:
            log.warning("refused a join from %s: too many subscriptions", self.peer)
            self._send_event(room, refusal_event(self._ctx.dialect))
            return
        if not self._ctx.streams.accepts_joins(room.stream):
            log.info("refused a join from %s: no stream %r", self.peer, room.stream)
            for event in not_found_events(self._ctx.dialect, room.stream):
                self._send_event(room, event)
            return
        subscription = Subscription(room.stream, room.group, room.item_id, data.subscriptionId)
        config = self._ctx.streams.get(room.stream)
        result = await self._on_join(config, subscription)
        if result.unauthorized:
            log.info("join to %r refused for %s: %s", room.stream, self.peer, result.reason)
            self._send_event(room, refusal_event(self._ctx.dialect))
            return
        try:
            token = await self._ctx.store.subscribe(room, self.deliver)
        except StoreUnavailable as exc:  # no sync can come: let the client retry later
            log.warning("closing %s: a join could not be served: %s", self.peer, exc)
            self.close(STORE_DOWN_CODE, STORE_DOWN_REASON)
            return
        self.subscriptions[data.subscriptionId] = _Active(subscription, room, token, config)

    async def leave(self, data: RoomData) -> None:
        """End a subscription of this socket (nothing is sent back)."""
        active = self.subscriptions.get(data.subscriptionId)
        if active is None or active.room != data.room:
            log.info("ignored a leave from %s for a subscription it does not hold", self.peer)
            return
        del self.subscriptions[data.subscriptionId]
        await self._ctx.store.unsubscribe(active.token)
        await self._on_leave(active)

    async def cleanup(self) -> None:
        """Unsubscribe everything, then run ``on_leave`` for each subscription."""
        actives = list(self.subscriptions.values())
        self.subscriptions.clear()
        for active in actives:
            await self._ctx.store.unsubscribe(active.token)
        for active in actives:
            await self._on_leave(active)

    async def _on_join(self, config: StreamConfig | None, sub: Subscription) -> JoinResult:
        if config is None or config.on_join is None:
            return JoinResult()
        try:
            result = await asyncio.wait_for(
                config.on_join(sub, self._ctx.hooks, self.auth), HOOK_TIMEOUT_SECONDS
            )
        except Exception:
            log.exception("on_join of %r failed; refusing the join", sub.stream_name)
            return JoinResult(unauthorized=True, reason="on_join failed")
        return result if isinstance(result, JoinResult) else JoinResult()

    async def _on_leave(self, active: _Active) -> None:
        if active.config is None or active.config.on_leave is None:
            return
        try:
            await asyncio.wait_for(
                active.config.on_leave(active.subscription, self._ctx.hooks, self.auth),
                HOOK_TIMEOUT_SECONDS,
            )
        except Exception:
            log.exception("on_leave of %r failed", active.subscription.stream_name)


class StreamEndpoint:
    """The ASGI WebSocket handler plus the registry of open connections."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._connections: set[Connection] = set()
        self._refusals = RateLimitedLog(log)
        ctx.store.on_lost_frames(self._frames_lost)

    def _frames_lost(self, reason: str) -> None:
        """The store may have lost frames: close every socket so each client resyncs."""
        conns = list(self._connections)
        if conns:
            log.warning("closing %d stream sockets so they resync (%s)", len(conns), reason)
        for conn in conns:
            conn.close(LOST_FRAMES_CODE, LOST_FRAMES_REASON)

    @property
    def connection_count(self) -> int:
        """How many stream sockets are open."""
        return len(self._connections)

    async def handle(self, websocket: WebSocket) -> None:
        """Authenticate, upgrade (or answer 401), then serve the socket until it closes."""
        client = websocket.client
        peer = f"{client.host}:{client.port}" if client else "unknown"
        subprotocols = list(websocket.scope.get("subprotocols") or [])
        token = token_from_request(
            websocket.headers, subprotocols, websocket.scope.get("query_string", b"")
        )
        outcome = await self._ctx.auth.authenticate(token)
        if not outcome.accepted:
            self._refusals.log(
                logging.WARNING,
                f"auth-{outcome.problem}",
                "refused a stream connection from %s: %s token (401)",
                peer,
                outcome.problem or "invalid",
            )
            body = {"error": outcome.error(SOCKET_WAYS), "status": 401}
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await websocket.send_denial_response(JSONResponse(body, status_code=401))
            return
        try:
            await websocket.accept(subprotocol=chosen_subprotocol(subprotocols))
        except (WebSocketDisconnect, RuntimeError, OSError):
            log.info("stream client %s left during the handshake", peer)
            return
        conn = Connection(websocket, self._ctx, outcome.context, peer)
        self._connections.add(conn)
        log.info("stream socket opened: %s (%s)", peer, "auth" if outcome.context else "anonymous")
        writer = asyncio.get_running_loop().create_task(conn.write_loop(), name=f"ws-send {peer}")
        try:
            await conn.read_loop()
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await conn.cleanup()
            self._connections.discard(conn)  # counted until its on_leave hooks have run
            conn.done.set()
            log.info("stream socket closed: %s", peer)

    async def close_all(self, code: int = 1001, reason: str = "", timeout: float = 1.0) -> None:
        """Close every socket gracefully; abort those not closed within ``timeout``."""
        conns = list(self._connections)
        for conn in conns:
            conn.close(code, reason)
        await self._wait(conns, timeout)
        for conn in conns:
            if not conn.done.is_set():
                conn.abort()
        await self._wait(conns, timeout)

    async def drop_some(self, count: int | None = None, timeout: float = 5.0) -> int:
        """Abort ``count`` sockets picked at random (all when None); return how many."""
        conns = list(self._connections)
        if count is not None and count < len(conns):
            conns = random.sample(conns, count)
        for conn in conns:
            conn.abort()
        await self._wait(conns, timeout)
        return len(conns)

    async def drop_all(self, timeout: float = 5.0) -> None:
        """Abort every socket (no close frame) and wait until each one is cleaned up."""
        conns = list(self._connections)
        for conn in conns:
            conn.abort()
        await self._wait(conns, timeout)

    @staticmethod
    async def _wait(conns: list[Connection], timeout: float) -> None:
        pending = [
            asyncio.ensure_future(conn.done.wait()) for conn in conns if not conn.done.is_set()
        ]
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=timeout)
        for waiter in still:
            waiter.cancel()
        await asyncio.gather(*still, return_exceptions=True)
