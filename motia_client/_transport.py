"""The socket under the client: a small interface, and how ``transport=`` picks one.

A transport factory takes a :class:`ConnectRequest` and returns an open
:class:`Transport`; the client only sends text, receives frames and closes.
Keepalive pings run inside the transport (only it owns the socket), and a
missed pong surfaces as a lost connection from :meth:`Transport.recv`. Tests
inject an in-memory transport through the same factory. The real one is
``_websockets_transport``, a :class:`PushTransport`.

Foreign exceptions are translated in each transport, at the boundary: a
refused upgrade with 401/403 becomes :class:`AuthenticationError`, an
oversized message :class:`FrameTooLarge`, anything else that breaks the
connection :class:`MotiaConnectionError`. Redirects are never followed: a
token must not travel to another host.

Proxies (``_proxy``) follow websockets' rules.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol

from motia_client._auth import Credentials, redact_url
from motia_client._exceptions import AuthenticationError, MotiaConnectionError
from motia_client._proxy import ProxyOption

__all__ = [
    "ConnectRequest",
    "PushTransport",
    "Transport",
    "TransportChoice",
    "TransportFactory",
    "now_ms",
    "read_all",
    "server_closed",
    "upgrade_refused",
]

logger = logging.getLogger("motia_client")

DEFAULT_MAX_SIZE = 64 * 1024 * 1024
CLOSE_TIMEOUT = 2.0  # how long close() waits for the peer's close frame on a dead socket


@dataclass(frozen=True, repr=False)
class ConnectRequest:
    """Everything one connection attempt needs."""

    credentials: Credentials
    ssl: ssl_module.SSLContext | bool | None = None
    max_size: int = DEFAULT_MAX_SIZE
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    open_timeout: float = 10.0
    proxy: ProxyOption = True  # True: from the environment; None: direct; or a proxy URL

    @property
    def safe_url(self) -> str:
        """The URL without its query string (where a token may be): safe to show."""
        return redact_url(self.credentials.url)

    def __repr__(self) -> str:
        return f"ConnectRequest(url={self.safe_url!r})"


class Transport(Protocol):
    """An open message socket carrying the Motia stream protocol."""

    async def send(self, text: str) -> None:
        """Send one text frame; raise :class:`MotiaConnectionError` if the socket is gone."""

    async def recv(self) -> str | bytes:
        """Return the next frame; raise a :class:`MotiaConnectionError` when it ends."""

    async def close(self) -> None:
        """Close the socket; safe to call twice."""


class PushTransport(Transport, Protocol):
    """A transport that can also deliver messages by callback (the fast path).

    After :meth:`start_reading`, messages go to ``deliver`` in order and
    :meth:`Transport.recv` is not used; :meth:`wait_closed` raises, like ``recv``
    would, when the connection ends.
    """

    def start_reading(self, deliver: Callable[[bytes], None]) -> None:
        """Deliver every message to ``deliver``, starting with any already received."""

    async def wait_closed(self) -> None:
        """Return never; raise a :class:`MotiaConnectionError` when the connection ends."""


async def read_all(transport: Transport, deliver: Callable[[str | bytes], None]) -> NoReturn:
    """Hand every message to ``deliver`` until the connection ends, then raise why.

    By callback on a :class:`PushTransport`, else by awaiting ``recv`` in a loop.
    """
    start_reading = getattr(transport, "start_reading", None)
    if start_reading is not None:
        start_reading(deliver)
        await transport.wait_closed()  # type: ignore[attr-defined]
    while True:
        deliver(await transport.recv())


MESSAGE_TOO_BIG = 1009  # RFC 6455 close codes the client explains
POLICY_VIOLATION = 1008
_CLOSE_DETAILS = {
    POLICY_VIOLATION: ": policy violation",
    MESSAGE_TOO_BIG: ": a frame the client sent exceeded the server's size limit",
}


def server_closed(code: int, safe_url: str) -> MotiaConnectionError:
    """The error of a connection the server closed with ``code`` (one wording for all)."""
    detail = _CLOSE_DETAILS.get(code, "")
    return MotiaConnectionError(
        f"the server closed the connection (code {code}{detail}): {safe_url}", close_code=code
    )


def upgrade_refused(status: int, safe_url: str, token_sent: bool) -> MotiaConnectionError:
    """The error of an upgrade refused with 401 or 403: credentials only if some were sent."""
    if token_sent:
        return AuthenticationError(status, safe_url)
    return MotiaConnectionError(
        f"the server at {safe_url} refused the connection (HTTP {status}); no token was "
        "sent: is the path right, or does the server need a token?"
    )


def now_ms() -> int:
    """The wall clock in milliseconds (what the session compares server times with)."""
    return time.time_ns() // 1_000_000


TransportFactory = Callable[[ConnectRequest], Awaitable[Transport]]
TransportChoice = Literal["auto", "websockets"] | TransportFactory


class MessageInbox:
    """Whole received messages on their way to the client (a mixin of the transport).

    Until the client calls :meth:`start_reading`, messages wait in order for
    :meth:`next_message`; after it, each one is handed to ``deliver`` straight
    from the socket callback, with no coroutine and no queue per message.
    """

    def __init__(self) -> None:
        self.messages: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.deliver: Callable[[bytes], None] | None = None  # push mode: called per message
        self.closed = False

    def _push(self, message: bytes) -> None:
        deliver = self.deliver
        if deliver is not None:
            try:
                deliver(message)
            except Exception:  # the receiver isolates its own errors; this is a last guard
                logger.exception("a received message could not be handled; skipped")
            return
        self.messages.append(message)
        self._wake()

    def _end(self) -> None:
        """The connection is gone: wake whoever waits for a message or the end."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def next_message(self, lost: Callable[[], BaseException]) -> bytes:
        """The next message; once the connection is gone, raise ``lost()``."""
        messages = self.messages
        while not messages:
            if self.closed:
                raise lost()
            waiter = self.waiter = asyncio.get_running_loop().create_future()
            await waiter
        return messages.popleft()

    def start_reading(self, deliver: Callable[[bytes], None]) -> None:
        """Push mode: deliver the waiting messages in order, then each new one as it comes."""
        while self.messages:
            deliver(self.messages.popleft())
        self.deliver = deliver

    async def wait_ended(self, lost: Callable[[], BaseException]) -> NoReturn:
        """Wait until the connection is gone, then raise ``lost()`` (push mode's end)."""
        while not self.closed:
            waiter = self.waiter = asyncio.get_running_loop().create_future()
            await waiter
        raise lost()


def bounded(seconds: float) -> AbstractAsyncContextManager[Any]:
    """``asyncio.timeout(seconds)``, with a stand-in on Python 3.10."""
    if sys.version_info >= (3, 11):
        return asyncio.timeout(seconds)
    return _WaitForTimeout(seconds)  # pragma: no cover


class _WaitForTimeout:  # pragma: no cover - Python 3.10 only
    """``asyncio.timeout`` for Python 3.10: cancel the current task when time is up."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._handle: asyncio.TimerHandle | None = None
        self._expired = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handle = asyncio.get_running_loop().call_later(self._seconds, self._expire, task)

    def _expire(self, task: asyncio.Task[Any]) -> None:
        self._expired = True
        task.cancel()

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self._handle is not None
        self._handle.cancel()
        if self._expired and exc_type is asyncio.CancelledError:
            raise TimeoutError
