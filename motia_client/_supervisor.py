"""The supervisor: the one task that owns a client's socket, its clock and its retries.

It connects (failing over between the client's URLs, each new attempt to the
next), hands every received frame straight to the session, carries out the
session's outputs (frames to send, in order; timers; a token refresh), runs the
drift checks, and waits (capped exponential backoff with full jitter, reset only
after a healthy connection) before reconnecting. What a failure means for the
client (its error, its ``connect()`` waiter, its listeners) is the
:class:`Host`'s to handle: the supervisor only reports it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from motia_client._auth import redact_url, resolve
from motia_client._config import Config
from motia_client._exceptions import AuthenticationError, MotiaConnectionError, MotiaError
from motia_client._lifecycle import StateChange
from motia_client._session import Session, Timer
from motia_client._transport import Transport, now_ms, read_all
from motia_client._verify import GRACE
from motia_client._verify import check as check_drift

__all__ = ["Host", "Supervisor"]

logger = logging.getLogger("motia_client")
_RETRYABLE = (MotiaConnectionError, TimeoutError, OSError)


class Host(Protocol):
    """What the supervisor tells its client (``AsyncStreamClient`` implements it)."""

    def emit(self, change: StateChange) -> None:
        """A connection state change, for the client's listeners."""

    def opened(self) -> None:
        """The first connection is open (``connect()`` may return)."""

    def fail(self, error: BaseException) -> None:
        """Stop for good with ``error``."""

    def spawn(self, awaitable: Awaitable[Any], what: str) -> asyncio.Task[None]:
        """Run ``awaitable`` in a task of the client (stopped by ``close()``)."""
        ...


class Supervisor:
    """Connects, reads, writes and retries for one client; :meth:`run` is its task."""

    def __init__(self, config: Config, session: Session, host: Host) -> None:
        self._config = config
        self._session = session
        self._host = host
        self.url_index = 0
        self.last_reason: str | None = None  # why the last connection or attempt failed
        self.sending: asyncio.Task[Any] | None = None  # the latest send: frames go in order
        self._transport: Transport | None = None
        self._timers: dict[int, asyncio.TimerHandle] = {}  # armed, by number; fired ones go
        self._timer_count = 0
        self._send_lock = asyncio.Lock()
        self._last_token: str | None = None
        self._drift: MotiaError | None = None  # why the drift check closed the live socket

    @property
    def url(self) -> str:
        """The URL the client is on, or tries next."""
        return self._config.urls[self.url_index]

    async def run(self, first_must_succeed: bool) -> None:
        """Connect, run each connection, retry; an unexpected error fails the client."""
        try:
            await self._attempts(first_must_succeed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("the stream client stopped on an unexpected error")
            error = MotiaConnectionError(f"internal error in the stream client: {exc!r}")
            error.__cause__ = exc
            self._host.fail(error)

    async def _attempts(self, first_must_succeed: bool) -> None:
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
                    self._host.fail(exc)
                    return
                error = exc
            except _RETRYABLE as exc:
                if first_must_succeed or policy is None:
                    self._host.fail(exc)
                    return
                error = exc
            except Exception as exc:  # a token callable raised, a bad URL...
                self._host.fail(exc)
                return
            else:
                first_must_succeed = False
                error, healthy = await self._connection(transport, token_changed)
                if healthy:
                    attempt = 0
                if policy is None:
                    lost = f"the connection to {redact_url(self.url)} was lost"
                    self._host.fail(MotiaConnectionError(lost))
                    return
            attempt += 1
            self.url_index = (self.url_index + 1) % len(self._config.urls)
            assert policy is not None
            delay = policy.delay(attempt)
            if delay is None:
                self._host.fail(MotiaConnectionError(f"gave up after {attempt - 1} attempts"))
                return
            self.last_reason = "the connection was lost" if error is None else str(error)
            change = self._session.retrying(
                reason=self.last_reason,
                attempt=attempt,
                retry_in=delay,
                error=error,
                url=redact_url(self.url),
            )
            self._host.emit(change)
            await asyncio.sleep(delay)

    async def _open(self) -> tuple[Transport, bool]:
        token = await resolve(self._config.token)
        token_changed = self._last_token is not None and token != self._last_token
        self._last_token = token
        return await self._socket(token), token_changed

    async def _socket(self, token: str | None) -> Transport:
        request = self._config.request(self.url, token)
        logger.debug("connecting to %s", request.safe_url)
        return await self._config.factory(request)

    async def _connection(
        self, transport: Transport, token_changed: bool
    ) -> tuple[BaseException | None, bool]:
        """Run one connection until it is lost; return why, and whether it had been healthy."""
        self._transport = transport
        session = self._session
        error: BaseException | None = None
        url = redact_url(self.url)
        self._host.emit(
            session.connection_made(
                now_ms(), token_changed=token_changed, reason="connected", url=url
            )
        )
        self._host.opened()
        interval = self._config.verify_interval
        checks = None if interval is None else self._host.spawn(self._verify(interval), "check")
        try:
            await read_all(transport, session.receive)  # never raises; outputs wake act()
        except MotiaConnectionError as exc:  # FrameTooLarge is a ProtocolError: see below
            error = exc
        except MotiaError as exc:  # a frame over max_size: a setting the user must change
            error = exc
            logger.error("%s; reconnecting", exc)
        finally:
            if checks is not None:
                checks.cancel()
            if self._drift is not None:  # the drift check replaced this socket
                error, self._drift = self._drift, None
            healthy = session.healthy
            self._cancel_timers()
            session.connection_lost(error)
            await self.close_transport()
        logger.info("%s", error)
        return error, healthy

    async def close_transport(self) -> None:
        """Close the socket, if any (the supervisor then reconnects, unless stopped)."""
        transport, self._transport = self._transport, None
        if transport is not None:
            try:
                await transport.close()
            except Exception:  # closing a broken socket may fail; it is closed either way
                logger.debug("error while closing the socket", exc_info=True)

    # -- carrying out the session's outputs ---------------------------------------------

    def act(self) -> None:
        """Send the frames, arm the timers and refresh the token the session asks for.

        The session calls it (its ``wake``) when an output becomes pending.
        """
        session = self._session
        if not session.pending:
            return
        frames = session.data_to_send()
        if frames and self._transport is not None:
            self.sending = self._host.spawn(self._send(self._transport, frames), "send")
        timers = session.timers_wanted()
        if timers:
            loop = asyncio.get_running_loop()
            for timer in timers:
                self._timer_count += 1
                number = self._timer_count
                self._timers[number] = loop.call_later(timer.delay, self._fire, number, timer)
        if session.take_token_refresh():
            self._host.spawn(self._refresh_token(), "token refresh")

    async def _send(self, transport: Transport, frames: list[str]) -> None:
        async with self._send_lock:  # FIFO: frames go out in the order they were queued
            for frame in frames:
                try:
                    await transport.send(frame)
                except MotiaConnectionError:
                    logger.debug("a frame was not sent: the connection is gone (it will rejoin)")
                    return

    def _fire(self, number: int, timer: Timer) -> None:
        self._timers.pop(number, None)  # fired: nothing to cancel any more
        self._session.timer_fired(timer, now_ms())

    def _cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    async def _refresh_token(self) -> None:
        if await self._token_differs():
            logger.info("every join was refused after a reconnect; reconnecting with a new token")
            self._session.token_changed()
            await self.close_transport()  # the supervisor reconnects with the new token
        else:
            self._session.keep_token()

    async def _token_differs(self) -> bool:
        if not callable(self._config.token):
            return False
        try:
            return await resolve(self._config.token) != self._last_token
        except Exception:
            return False

    # -- drift checks -------------------------------------------------------------------

    async def _verify(self, interval: float) -> None:
        """Check every room against a fresh snapshot each ``interval`` s (``_verify``)."""
        while True:
            await asyncio.sleep(interval)
            drifts = await check_drift(
                self._session, self._snapshot_socket, min(GRACE, interval / 2)
            )
            if drifts:
                self._drift = drifts[0]
                await self.close_transport()  # it was not receiving: reconnect
                return

    async def _snapshot_socket(self) -> Transport:
        """A second socket to the same server, with the same credentials (drift checks)."""
        return await self._socket(await resolve(self._config.token))
