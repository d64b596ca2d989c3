"""AsyncStreamClient: the asyncio shell around the session; it does I/O and nothing else.

The protocol's rules live in the sans-I/O :class:`~motia_client._session.Session`.
This client owns what needs a loop or a clock: a supervisor task that connects
(failing over between URLs), feeds every received frame to the session, sends
what the session asks, arms the timers it wants, and waits (capped exponential
backoff with full jitter) before reconnecting. The supervisor runs apart from
everything that can stop it, so it never cancels itself, and an unexpected
error in it fails the client visibly instead of killing it silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from motia_client._auth import redact_url, resolve
from motia_client._config import ClientOptions, Config
from motia_client._exceptions import (
    AuthenticationError,
    ClientClosedError,
    MotiaConnectionError,
    MotiaError,
)
from motia_client._lifecycle import ConnectionState, StateChange
from motia_client._listeners import Listeners
from motia_client._session import Session, SubscriberSink, Timer, View
from motia_client._subscription import GroupSubscription, ItemSubscription
from motia_client._transport import Transport
from motia_client._verify import GRACE
from motia_client._verify import check as check_drift

if TYPE_CHECKING:
    from pydantic import BaseModel
    from typing_extensions import Unpack

__all__ = ["AsyncStreamClient"]

logger = logging.getLogger("motia_client")
M = TypeVar("M", bound="BaseModel")
StateListener = Callable[[StateChange], Any]
_RETRYABLE = (MotiaConnectionError, TimeoutError, OSError)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class AsyncStreamClient:
    """An asyncio client for Motia streams over one WebSocket (README: "The client").

    ``url`` is the stream endpoint, or a list of them to fail over between (each
    new attempt goes to the next). The keyword options are :class:`ClientOptions`.
    """

    def __init__(self, url: str | Sequence[str], **options: Unpack[ClientOptions]) -> None:
        self._config = Config.build(url, options)
        self._url_index = 0
        self._session = Session(token_callable=callable(self._config.token), wake=self._act)
        self._state_listeners: Listeners[StateListener] = Listeners(self.spawn)
        self._transport: Transport | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._send_lock = asyncio.Lock()
        self._sending: asyncio.Task[None] | None = None  # the latest send: frames go in order
        self._opened: asyncio.Future[None] | None = None
        self._last_token: str | None = None
        self._last_reason: str | None = None  # why the last connection or attempt failed
        self._drift: MotiaError | None = None  # why the drift check closed the live socket
        self.error: MotiaError | None = None  #: what made the client fail, if it did

    # -- state ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The stream URL the client is on (or tries next)."""
        return self._config.urls[self._url_index]

    @property
    def state(self) -> ConnectionState:
        """Where the connection stands now."""
        return self._session.state

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the client runs on (``None`` until :meth:`connect`)."""
        supervisor = self._supervisor
        return supervisor.get_loop() if supervisor is not None else None

    @property
    def is_connected(self) -> bool:
        """Whether the socket is open."""
        return self.state is ConnectionState.OPEN

    def on_state_change(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(change)`` on every :class:`StateChange`; return a remover."""
        return self._state_listeners.add(listener)

    def off_state_change(self, listener: StateListener) -> None:
        """Stop calling ``listener``."""
        self._state_listeners.remove(listener)

    def _emit(self, change: StateChange) -> None:
        logger.debug(
            "connection %s -> %s (%s)", change.previous.value, change.state.value, change.reason
        )
        self._state_listeners.emit(change)

    def status_hint(self) -> str:
        """Where the connection stands, in words (timeouts say it)."""
        state = self.state
        if state is ConnectionState.IDLE:
            return "client is IDLE: call connect() or use `async with`"
        if self.error is not None:
            return f"client is {state.name}: {self.error}"
        if state is ConnectionState.RECONNECTING and self._last_reason:
            return f"client is RECONNECTING after: {self._last_reason}"
        return f"client is {state.name}"

    # -- lifecycle ------------------------------------------------------------------

    async def connect(self, *, wait: bool = True) -> None:
        """Open the connection.

        With ``wait`` (the default) return once the socket is open, or raise the
        first attempt's error and stop. With ``wait=False`` return at once and
        keep trying in the background per the reconnect policy.
        """
        if self.state.is_terminal:
            raise ClientClosedError("this client is closed; create a new one")
        if self._supervisor is not None:
            if wait and self._opened is not None:
                await asyncio.shield(self._opened)
            return
        loop = asyncio.get_running_loop()
        self._opened = loop.create_future()
        self._emit(self._session.connect(url=redact_url(self.url)))
        self._supervisor = loop.create_task(self._supervise(wait), name="motia-client-supervisor")
        if wait:
            try:
                await asyncio.shield(self._opened)
            except BaseException:
                await self.close()
                raise

    async def close(self) -> None:
        """Close the socket, end every subscription and stop every task. Idempotent."""
        if self.state is ConnectionState.CLOSED:
            return
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        await self._close_transport()
        self._settle_opened(ClientClosedError("the client was closed"))
        self._emit(self._session.close(reason="closed by the user"))
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

    # -- subscriptions ----------------------------------------------------------------

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
        return ItemSubscription(self, stream, group_id, item_id, model=model)

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
        return GroupSubscription(self, stream, group_id, sort_key=sort_key, model=model)

    def attach(
        self,
        sink: SubscriberSink,
        stream: str,
        group_id: str,
        item_id: str | None,
        sort_key: str | None,
        model: type[BaseModel] | None,
    ) -> View:
        """Subscribe a subscription to its room (``SubscriptionOwner``); return its view."""
        if self.state.is_terminal:
            raise ClientClosedError(f"this client is {self.state.value}; create a new one")
        return self._session.subscribe(
            sink, stream, group_id, item_id, sort_key=sort_key, model=model
        )

    async def detach(self, sink: SubscriberSink) -> None:
        """Unsubscribe a subscription; wait until its leave (if any) was sent."""
        self._session.unsubscribe(sink)
        sending = self._sending
        if sending is not None and not sending.done():
            await asyncio.wait((sending,))  # frames go out in order: the leave is in it

    # -- the supervisor ---------------------------------------------------------------

    async def _supervise(self, first_must_succeed: bool) -> None:
        try:
            await self._run(first_must_succeed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("the stream client stopped on an unexpected error")
            error = MotiaConnectionError(f"internal error in the stream client: {exc!r}")
            error.__cause__ = exc
            self._fail(error)

    async def _run(self, first_must_succeed: bool) -> None:
        attempt = 0
        policy = self._config.policy
        while True:
            error: BaseException | None
            try:
                transport, token_changed = await self._open()
            except AuthenticationError as exc:
                # Terminal, unless the token callable now gives another token: then
                # retry at the backoff pace (a callable may mint a new one per call).
                if policy is None or not await self._token_differs():
                    self._fail(exc)
                    return
                error = exc
            except _RETRYABLE as exc:
                if first_must_succeed or policy is None:
                    self._fail(exc)
                    return
                error = exc
            except Exception as exc:  # a token callable raised, a bad URL...
                self._fail(exc)
                return
            else:
                first_must_succeed = False
                error, healthy = await self._run_connection(transport, token_changed)
                if healthy:
                    attempt = 0
                if policy is None:
                    self._fail(
                        MotiaConnectionError(f"the connection to {redact_url(self.url)} was lost")
                    )
                    return
            attempt += 1
            self._url_index = (self._url_index + 1) % len(self._config.urls)
            assert policy is not None
            delay = policy.delay(attempt)
            if delay is None:
                self._fail(MotiaConnectionError(f"gave up after {attempt - 1} reconnect attempts"))
                return
            self._last_reason = "the connection was lost" if error is None else str(error)
            self._emit(
                self._session.retrying(
                    reason=self._last_reason,
                    attempt=attempt,
                    retry_in=delay,
                    error=error,
                    url=redact_url(self.url),
                )
            )
            await asyncio.sleep(delay)

    async def _open(self) -> tuple[Transport, bool]:
        token = await resolve(self._config.token)
        token_changed = self._last_token is not None and token != self._last_token
        self._last_token = token
        request = self._config.request(self.url, token)
        logger.debug("connecting to %s", request.safe_url)
        return await self._config.factory(request), token_changed

    async def _run_connection(
        self, transport: Transport, token_changed: bool
    ) -> tuple[BaseException | None, bool]:
        """Run one connection until it is lost; return why, and whether it had been healthy."""
        self._transport = transport
        session = self._session
        error: BaseException | None = None
        self._emit(
            session.connection_made(
                _now_ms(), token_changed=token_changed, reason="connected", url=redact_url(self.url)
            )
        )
        self._settle_opened(None)
        verifier = None
        if self._config.verify_interval is not None:
            verifier = self.spawn(self._verify(self._config.verify_interval), "drift check")
        try:
            receive = session.receive  # never raises; its outputs wake _act
            start_reading = getattr(transport, "start_reading", None)
            if start_reading is not None:  # a PushTransport: frames arrive by callback
                start_reading(receive)
                await transport.wait_closed()  # type: ignore[attr-defined]
            while True:
                receive(await transport.recv())
        except MotiaConnectionError as exc:  # FrameTooLarge is a ProtocolError: see below
            error = exc
        except MotiaError as exc:  # a frame over max_size: a setting the user must change
            error = exc
            logger.error("%s; reconnecting", exc)
        finally:
            if verifier is not None:
                verifier.cancel()
            if self._drift is not None:  # the drift check replaced this socket
                error, self._drift = self._drift, None
            healthy = session.healthy
            self._cancel_timers()
            session.connection_lost(error)
            await self._close_transport()
        logger.info("%s", error)
        return error, healthy

    async def _verify(self, interval: float) -> None:
        """Check every room against a fresh snapshot each ``interval`` s (``_verify``)."""
        while True:
            await asyncio.sleep(interval)
            drifts = await check_drift(
                self._session, self._snapshot_socket, min(GRACE, interval / 2)
            )
            if drifts:
                self._drift = drifts[0]
                await self._close_transport()  # the supervisor reconnects: it was not receiving
                return

    async def _snapshot_socket(self) -> Transport:
        """A second socket to the same server, with the same credentials (drift checks)."""
        token = await resolve(self._config.token)
        return await self._config.factory(self._config.request(self.url, token))

    async def _token_differs(self) -> bool:
        if not callable(self._config.token):
            return False
        try:
            return await resolve(self._config.token) != self._last_token
        except Exception:
            return False

    def _fail(self, error: BaseException) -> None:
        """Stop for good: tell connect(), the state listeners and every subscription."""
        if isinstance(error, MotiaError):
            failure = error
        else:  # a bad token from a callable (ValueError), a token callable that raised...
            failure = MotiaConnectionError(f"cannot connect to {redact_url(self.url)}: {error}")
            failure.__cause__ = error
        self.error = failure
        logger.debug("stream client failed: %s", failure)
        raised = error if isinstance(error, MotiaError | ValueError | TypeError) else failure
        self._settle_opened(raised)
        self._emit(self._session.fail(failure, reason=str(failure), url=redact_url(self.url)))

    def _settle_opened(self, error: BaseException | None) -> None:
        opened = self._opened
        if opened is None or opened.done():
            return
        if error is None:
            opened.set_result(None)
        else:
            opened.set_exception(error)
            opened.exception()  # retrieved: after connect(wait=False) nobody awaits it

    async def _close_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            try:
                await transport.close()
            except Exception:  # closing a broken socket may fail; it is closed either way
                logger.debug("error while closing the socket", exc_info=True)

    # -- carrying out the session's outputs ---------------------------------------------

    def _act(self) -> None:
        """Send the frames, arm the timers and refresh the token the session asks for.

        The session calls it (its ``wake``) when an output becomes pending.
        """
        session = self._session
        if not session.pending:
            return
        frames = session.data_to_send()
        if frames and self._transport is not None:
            self._sending = self.spawn(self._send(self._transport, frames), "send")
        timers = session.timers_wanted()
        if timers:
            loop = asyncio.get_running_loop()
            for timer in timers:
                self._timers.add(loop.call_later(timer.delay, self._fire, timer))
        if session.take_token_refresh():
            self.spawn(self._refresh_token(), "token refresh")

    async def _send(self, transport: Transport, frames: list[str]) -> None:
        async with self._send_lock:  # FIFO: frames go out in the order they were queued
            for frame in frames:
                try:
                    await transport.send(frame)
                except MotiaConnectionError:
                    logger.debug("a frame was not sent: the connection is gone (it will rejoin)")
                    return

    def _fire(self, timer: Timer) -> None:
        self._session.timer_fired(timer, _now_ms())

    def _cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    async def _refresh_token(self) -> None:
        if await self._token_differs():
            logger.info("every join was refused after a reconnect; reconnecting with a new token")
            self._session.token_changed()
            await self._close_transport()  # the supervisor reconnects with the new token
        else:
            self._session.keep_token()

    def spawn(self, awaitable: Awaitable[Any], what: str) -> asyncio.Task[None]:
        """Run ``awaitable`` in a task of the client, logging what it raises."""

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

    def __repr__(self) -> str:
        return f"<AsyncStreamClient {redact_url(self.url)} {self.state.value}>"
