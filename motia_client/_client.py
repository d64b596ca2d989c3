"""AsyncStreamClient: the asyncio WebSocket client for Motia streams.

One socket, many subscriptions. A supervisor task owns the socket: it connects,
sends the joins the router asks for, feeds every received frame to the router
and hands the results to the subscriptions. On any loss it waits (capped
exponential backoff with full jitter) and reconnects; the rejoin's syncs
replace the state. It is a separate task from everything that can stop it, so
it never cancels itself.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl as ssl_module
from collections.abc import Callable
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from motia_client._auth import AuthMode, Credentials, TokenSource, check_token, redact_url, resolve
from motia_client._exceptions import (
    AuthenticationError,
    ClientClosedError,
    FrameTooLarge,
    MotiaConnectionError,
    MotiaError,
    SubscriptionRefused,
)
from motia_client._fanout import Dispatcher
from motia_client._lifecycle import TRANSITIONS, ConnectionState, ReconnectPolicy, StateChange
from motia_client._protocol import CustomEvent, MalformedFrame, StateFrame
from motia_client._proxy import ProxyOption, check_proxy
from motia_client._refusals import PROBATION_SECONDS, RefusalProbation
from motia_client._rooms import Delivery, RoomKey, Router
from motia_client._subscription import GroupSubscription, ItemSubscription, Subscription
from motia_client._transport import (
    DEFAULT_MAX_SIZE,
    ConnectRequest,
    Transport,
    TransportChoice,
    TransportFactory,
    pick_transport,
)
from motia_client._views import GroupView, ItemView

__all__ = ["AsyncStreamClient"]

logger = logging.getLogger("motia_client")
# Motia 0.x answers a join to a missing item with nothing: an item join still
# unanswered this long after it was sent is settled as a missing item (None).
ITEM_SETTLE_SECONDS = 2.0
M = TypeVar("M", bound=BaseModel)
StateListener = Callable[[StateChange], Any]


class AsyncStreamClient:
    """An asyncio client for Motia streams over one WebSocket.

    ``token`` is a string or a sync or async callable returning one (called on
    every connection attempt, so a refreshed token is used after a reconnect).
    ``auth`` picks how it travels: ``"subprotocol"`` (default, like the official
    clients), ``"header"`` (``Authorization: Bearer``) or ``"query"``
    (``?authToken=``). ``reconnect`` is ``True`` (the default policy), a
    :class:`ReconnectPolicy`, or ``False``. ``transport`` is ``"auto"`` (the
    websockets transport) or a factory (tests inject in-memory transports this way).
    ``proxy`` is ``True`` (the default: from ``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY`` and ``NO_PROXY``, by the rules of ``websockets.connect``),
    ``None`` (always connect directly) or a proxy URL such as
    ``"http://user:password@proxy:3128"`` or ``"socks5h://proxy:1080"``.
    """

    def __init__(
        self,
        url: str,
        *,
        token: TokenSource = None,
        auth: AuthMode = "subprotocol",
        headers: dict[str, str] | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        reconnect: ReconnectPolicy | bool = True,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        open_timeout: float = 10.0,
        max_size: int = DEFAULT_MAX_SIZE,
        transport: TransportChoice = "auto",
        proxy: ProxyOption = True,
    ) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"the stream URL must start with ws:// or wss://: {redact_url(url)}")
        if auth not in ("subprotocol", "header", "query"):
            raise ValueError("auth must be 'subprotocol', 'header' or 'query'")
        if isinstance(token, str):
            check_token(token, auth)
        self.url = url
        self._token_source = token
        self._auth: AuthMode = auth
        self._headers = dict(headers or {})
        self._ssl = ssl
        if reconnect is True:
            self._policy: ReconnectPolicy | None = ReconnectPolicy()
        else:
            self._policy = reconnect or None
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._open_timeout = open_timeout
        self._max_size = max_size
        check_proxy(proxy)
        self._proxy = proxy
        self._factory: TransportFactory = pick_transport(transport)
        self._router: Router[Subscription[Any]] = Router()
        self._state = ConnectionState.IDLE
        self._state_listeners: list[StateListener] = []
        self._transport: Transport | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._opened: asyncio.Future[None] | None = None
        self._last_token: str | None = None
        self._probation: RefusalProbation[Subscription[Any]] = RefusalProbation()
        # Each received frame, from the transport to the listeners (compiled with the core).
        self._dispatch = Dispatcher(self._router, self._probation, self._deliver_all).dispatch
        self._probation_timer: asyncio.TimerHandle | None = None
        self._settle_timers: set[asyncio.TimerHandle] = set()
        self._loss: BaseException | None = None
        self.error: MotiaError | None = None  # what made the client fail, if it did

    # -- state ----------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """Where the connection stands now."""
        return self._state

    @property
    def is_connected(self) -> bool:
        """Whether the socket is open."""
        return self._state is ConnectionState.OPEN

    def on_state_change(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(change)`` on every :class:`StateChange`; return a remover."""
        self._state_listeners.append(listener)
        return lambda: self.off_state_change(listener)

    def off_state_change(self, listener: StateListener) -> None:
        """Stop calling ``listener``."""
        if listener in self._state_listeners:
            self._state_listeners.remove(listener)

    def _set_state(self, new: ConnectionState, **details: Any) -> None:
        previous = self._state
        if new not in TRANSITIONS[previous] and not (new is previous is ConnectionState.OPEN):
            logger.debug("ignored state change %s -> %s", previous.value, new.value)
            return
        self._state = new
        change = StateChange(previous, new, **details)
        logger.debug("connection %s -> %s (%s)", previous.value, new.value, change.reason)
        for listener in tuple(self._state_listeners):
            self._call(listener, change)

    # -- lifecycle ------------------------------------------------------------

    async def connect(self, *, wait: bool = True) -> None:
        """Open the connection.

        With ``wait`` (the default) return once the socket is open, or raise
        the first attempt's error and stop. With ``wait=False`` return at once
        and keep trying in the background per the reconnect policy.
        """
        if self._state.is_terminal:
            raise ClientClosedError("this client is closed; create a new one")
        if self._supervisor is not None:
            if wait and self._opened is not None:
                await asyncio.shield(self._opened)
            return
        self._opened = asyncio.get_running_loop().create_future()
        self._set_state(ConnectionState.CONNECTING)
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(first_must_succeed=wait), name="motia-client-supervisor"
        )
        if wait:
            try:
                await asyncio.shield(self._opened)
            except BaseException:
                await self.close()
                raise

    async def close(self) -> None:
        """Close the socket, end every subscription and stop every task. Idempotent."""
        if self._state is ConnectionState.CLOSED:
            return
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        if self._transport is not None:
            await self._close_transport()
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(ClientClosedError("the client was closed"))
            self._opened.exception()  # retrieved: nobody else may be waiting
        for room in list(self._router.rooms.values()):
            for sub in list(room.members):
                self._router.remove(sub)
                sub._end(None)
        self._set_state(ConnectionState.CLOSED, reason="closed by the user")
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._state_listeners.clear()

    async def __aenter__(self) -> AsyncStreamClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- subscriptions ----------------------------------------------------------

    @overload
    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: type[M]
    ) -> ItemSubscription[M]: ...
    @overload
    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: None = None
    ) -> ItemSubscription[dict[str, Any]]: ...
    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: type[BaseModel] | None = None
    ) -> ItemSubscription[Any]:
        """Follow one item; joined now if open, else as soon as the socket opens."""
        self._check_open_for_subscriptions()
        sub: ItemSubscription[Any] = ItemSubscription(self, stream, group_id, item_id)
        room, view, join = self._router.add(sub, stream, group_id, item_id, model=model)
        assert isinstance(view, ItemView)
        sub._attach(view)
        self._send_soon(join)
        if join is not None and room.sub_id is not None:
            self._arm_settle([(room.key, room.sub_id)])
        if room.refused:
            self._joined_refused_room(sub)
        return sub

    @overload
    def subscribe_group(
        self, stream: str, group_id: str, *, sort_key: str | None = None, model: type[M]
    ) -> GroupSubscription[M]: ...
    @overload
    def subscribe_group(
        self, stream: str, group_id: str, *, sort_key: str | None = None, model: None = None
    ) -> GroupSubscription[dict[str, Any]]: ...
    def subscribe_group(
        self,
        stream: str,
        group_id: str,
        *,
        sort_key: str | None = None,
        model: type[BaseModel] | None = None,
    ) -> GroupSubscription[Any]:
        """Follow every item of a group, ordered by ``sort_key`` if given."""
        self._check_open_for_subscriptions()
        sub: GroupSubscription[Any] = GroupSubscription(self, stream, group_id)
        room, view, join = self._router.add(sub, stream, group_id, sort_key=sort_key, model=model)
        assert isinstance(view, GroupView)
        sub._attach(view)
        self._send_soon(join)
        if room.refused:
            self._joined_refused_room(sub)
        return sub

    def _joined_refused_room(self, sub: Subscription[Any]) -> None:
        """A new subscriber of a room the server refused shares its fate (no new join)."""
        if self._probation.active:
            self._probation.add(sub)  # reported with the others, unless a new token helps
        else:
            sub._refuse(SubscriptionRefused(sub.stream, sub.group_id, sub.item_id))

    def _check_open_for_subscriptions(self) -> None:
        if self._state.is_terminal:
            raise ClientClosedError(f"this client is {self._state.value}; create a new one")

    async def _unsubscribe(self, sub: Subscription[Any]) -> None:
        leave = self._router.remove(sub)
        sub._end(None)
        # Queued like the join it undoes, so it can never overtake that join.
        sending = self._send_soon(leave)
        if sending is not None:
            await asyncio.wait((sending,))

    # -- the supervisor -----------------------------------------------------------

    async def _supervise(self, first_must_succeed: bool) -> None:
        attempt = 0
        reconnected = False
        while True:
            try:
                transport, token_changed = await self._open()
            except asyncio.CancelledError:
                raise
            except AuthenticationError as exc:
                # Terminal, unless the token callable now gives another token: then
                # retry at the backoff pace (a callable may mint a new one per call).
                if self._policy is None or not await self._token_changed_since_failure():
                    self._fail(exc)
                    return
                attempt += 1
                if not await self._backoff(attempt, exc):
                    return
                continue
            except (MotiaConnectionError, TimeoutError, OSError) as exc:
                if first_must_succeed or self._policy is None:
                    self._fail(exc)
                    return
                attempt += 1
                if not await self._backoff(attempt, exc):
                    return
                continue
            except Exception as exc:  # a token callable raised, a bad URL...
                self._fail(exc)
                return
            first_must_succeed = False
            attempt = 0
            await self._run_connection(transport, reconnected, token_changed)
            reconnected = True
            if self._policy is None:
                self._fail(MotiaConnectionError(f"the connection to {self._safe_url} was lost"))
                return
            attempt += 1
            loss = self._loss or MotiaConnectionError("the connection was lost")
            if not await self._backoff(attempt, loss):
                return

    async def _open(self) -> tuple[Transport, bool]:
        token = await resolve(self._token_source)
        token_changed = self._last_token is not None and token != self._last_token
        self._last_token = token
        request = ConnectRequest(
            credentials=Credentials.build(self.url, token, self._auth, self._headers),
            ssl=self._ssl,
            max_size=self._max_size,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            open_timeout=self._open_timeout,
            proxy=self._proxy,
        )
        logger.debug("connecting to %s", request.safe_url)
        return await self._factory(request), token_changed

    async def _run_connection(
        self, transport: Transport, reconnected: bool, token_changed: bool
    ) -> None:
        self._transport = transport
        self._loss = None
        self._probation.start(
            reconnected=reconnected,
            token_callable=callable(self._token_source),
            token_changed=token_changed,
        )
        if self._probation.active:
            loop = asyncio.get_running_loop()
            self._probation_timer = loop.call_later(PROBATION_SECONDS, self._release_probation)
        self._set_state(ConnectionState.OPEN, reason="connected")
        if self._opened is not None and not self._opened.done():
            self._opened.set_result(None)
        router = self._router
        try:
            for frame in router.connection_made(retry_refused=token_changed):
                await transport.send(frame)
            self._probation.joined(sum(1 for r in router.rooms.values() if r.sub_id is not None))
            self._arm_settle(router.item_joins())
            dispatch = self._dispatch
            start_reading = getattr(transport, "start_reading", None)
            if start_reading is not None:  # a PushTransport: frames arrive by callback
                start_reading(dispatch)
                await transport.wait_closed()  # type: ignore[attr-defined]
            receive = transport.recv
            while True:
                dispatch(await receive())
        except (MotiaConnectionError, FrameTooLarge) as exc:
            self._loss = exc
            if isinstance(exc, FrameTooLarge):
                logger.error("%s; reconnecting", exc)
            else:
                logger.info("%s", exc)
        finally:
            for timer in self._settle_timers:
                timer.cancel()
            self._settle_timers.clear()
            if self._probation.active:
                self._release_probation()  # held refusals are reported, never lost
            router.connection_lost()
            await self._close_transport()

    async def _backoff(self, attempt: int, reason: BaseException) -> bool:
        """Wait before retry ``attempt``; return False (having failed) if retries are over."""
        assert self._policy is not None
        delay = self._policy.delay(attempt)
        if delay is None:
            self._fail(MotiaConnectionError(f"gave up after {attempt - 1} reconnect attempts"))
            return False
        self._set_state(
            ConnectionState.RECONNECTING,
            reason=str(reason) or type(reason).__name__,
            attempt=attempt,
            retry_in=delay,
            error=reason,
        )
        await asyncio.sleep(delay)
        return True

    async def _token_changed_since_failure(self) -> bool:
        if not callable(self._token_source):
            return False
        try:
            return await resolve(self._token_source) != self._last_token
        except Exception:
            return False

    def _fail(self, error: BaseException) -> None:
        """Stop for good: tell connect(), the state listeners and every subscription."""
        if isinstance(error, MotiaError):
            motia_error = error
        else:  # a bad token from a callable (ValueError), a token callable that raised...
            motia_error = MotiaConnectionError(f"cannot connect to {self._safe_url}: {error}")
        self.error = motia_error
        logger.error("stream client failed: %s", motia_error)
        if self._opened is not None and not self._opened.done():
            raised = (
                error if isinstance(error, MotiaError | ValueError | TypeError) else motia_error
            )
            self._opened.set_exception(raised)
            self._opened.exception()  # retrieved: after connect(wait=False) nobody awaits it
        self._set_state(ConnectionState.FAILED, reason=str(motia_error), error=motia_error)
        for room in list(self._router.rooms.values()):
            for sub in list(room.members):
                sub._end(motia_error)

    async def _close_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            try:
                await transport.close()
            except Exception:  # closing a broken socket may fail; it is closed either way
                logger.debug("error while closing the socket", exc_info=True)

    # -- frames -----------------------------------------------------------------

    def _settle(self, joins: list[tuple[RoomKey, str]]) -> None:
        """A grace period after item joins: the unanswered ones are missing items."""
        try:
            self._deliver_all(self._router.settle(joins))
        except Exception:
            logger.exception("internal error while settling item joins")

    def _arm_settle(self, joins: list[tuple[RoomKey, str]]) -> None:
        if joins:
            loop = asyncio.get_running_loop()
            self._settle_timers.add(loop.call_later(ITEM_SETTLE_SECONDS, self._settle, joins))

    def _deliver_all(self, deliveries: list[Delivery | MalformedFrame]) -> None:
        for delivery in deliveries:
            if isinstance(delivery, MalformedFrame):
                logger.warning(
                    "ignored a malformed frame (%s): %s", delivery.reason, delivery.preview
                )
                continue
            room, frame, errors = delivery
            if type(frame) is StateFrame:
                if self._probation.active:
                    self._release_probation()
                if errors:
                    for sub in tuple(room.members):
                        sub._changed(errors.get(sub))
                else:
                    for sub in tuple(room.members):
                        sub._fanout.changed()
                continue
            members = tuple(room.members)
            if type(frame) is CustomEvent:
                for sub in members:
                    sub._event(frame.type, frame.data)
            else:
                self._refused(
                    room.stream, room.group, room.item_id, members, getattr(frame, "reason", None)
                )

    def _refused(
        self,
        stream: str,
        group: str,
        item_id: str | None,
        members: tuple[Subscription[Any], ...],
        reason: str | None,
    ) -> None:
        if self._probation.active:
            refused = sum(1 for r in self._router.rooms.values() if r.refused)
            if self._probation.hold(members, reason, refused):
                # Every join refused right after a reconnect: likely an expired token.
                self._spawn(self._retry_with_fresh_token(), "token refresh")
            return
        error = SubscriptionRefused(stream, group, item_id, reason)
        for sub in members:
            sub._refuse(error)

    def _release_probation(self) -> None:
        """The held refusals are real (state flowed, or time passed): report them."""
        if self._probation_timer is not None:
            self._probation_timer.cancel()
            self._probation_timer = None
        for sub, reason in self._probation.release():
            self._refused(sub.stream, sub.group_id, sub.item_id, (sub,), reason)

    async def _retry_with_fresh_token(self) -> None:
        if await self._token_changed_since_failure():
            logger.info("every join was refused after a reconnect; reconnecting with a new token")
            self._probation.release()  # not reported: the rooms are joined again
            await self._close_transport()  # the supervisor reconnects with the new token
        else:
            self._release_probation()

    # -- plumbing -----------------------------------------------------------------

    def _call(self, listener: Callable[..., Any], *args: Any) -> None:
        """Call a user listener, isolating its errors; await it if it is a coroutine."""
        try:
            result = listener(*args)
        except Exception:
            logger.exception("a listener raised; the other listeners still run")
            return
        if result is not None and inspect.isawaitable(result):
            self._spawn(result, "listener")

    def _spawn(self, awaitable: Any, what: str) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await awaitable
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("an async %s raised; the client carries on", what)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _send_soon(self, frame: str | None) -> asyncio.Task[None] | None:
        """Send ``frame`` from a task: frames go out in the order they were queued."""
        if frame is not None and self._transport is not None:
            return self._spawn(self._send(frame), "send")
        return None

    async def _send(self, frame: str) -> None:
        transport = self._transport
        if transport is None:
            return  # offline: the join is sent when the socket opens
        try:
            await transport.send(frame)
        except MotiaConnectionError:
            logger.debug("a frame was not sent: the connection is gone (it will rejoin)")

    @property
    def _safe_url(self) -> str:
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"<AsyncStreamClient {self._safe_url} {self._state.value}>"
