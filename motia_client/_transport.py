"""The socket under the client: a small interface and its ``websockets`` implementation.

A transport factory takes a :class:`ConnectRequest` and returns an open
:class:`Transport`; the client only sends text, receives frames and closes.
Keepalive pings run inside the transport (only it owns the socket), and a
missed pong surfaces as a lost connection from :meth:`Transport.recv`. Tests
inject an in-memory transport through the same factory.

Foreign exceptions are translated here, at the boundary: a refused upgrade
with 401/403 becomes :class:`AuthenticationError`, an oversized frame
:class:`FrameTooLarge`, anything else that breaks the connection
:class:`MotiaConnectionError`. Redirects are never followed: a token must not
travel to another host. ``websockets`` logs every handshake header at DEBUG
level; it gets a logger that masks the token in each record.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import CloseCode
from websockets.typing import Subprotocol

from motia_client._auth import Credentials, redact_url
from motia_client._exceptions import (
    AuthenticationError,
    FrameTooLarge,
    MotiaConnectionError,
    MotiaTimeout,
)

__all__ = [
    "ConnectRequest",
    "PushTransport",
    "Transport",
    "TransportChoice",
    "TransportFactory",
    "pick_transport",
    "websockets_transport",
]

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


TransportFactory = Callable[[ConnectRequest], Awaitable[Transport]]
TransportChoice = Literal["auto", "websockets", "picows"] | TransportFactory


def pick_transport(choice: TransportChoice) -> TransportFactory:
    """Resolve ``transport=``: ``auto`` is picows when installed, else websockets."""
    if callable(choice):
        return choice
    if choice == "websockets":
        return websockets_transport
    if choice in ("auto", "picows"):
        try:
            from motia_client._picows_transport import picows_transport
        except ImportError:
            if choice == "picows":
                raise ImportError(
                    "transport='picows' needs the fast extra: pip install 'motia-client[fast]'"
                ) from None
            return websockets_transport
        return picows_transport
    raise ValueError("transport must be 'auto', 'websockets', 'picows' or a factory")


if TYPE_CHECKING:
    _LoggerAdapter = logging.LoggerAdapter[logging.Logger]
else:  # not subscriptable at runtime before Python 3.11
    _LoggerAdapter = logging.LoggerAdapter


class _RedactingLogger(_LoggerAdapter):
    """The ``websockets.client`` logger, with the token masked in every message."""

    def __init__(self, credentials: Credentials) -> None:
        super().__init__(logging.getLogger("websockets.client"), {})
        self._secrets = credentials.secrets()

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Format the message, mask the token, then log it as one string."""
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        self.logger.log(level, "%s", text, **kwargs)


class _NoRedirects(connect):
    """``websockets.connect`` that never follows a redirect (tokens stay on this host)."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


class WebsocketsTransport:
    """The default transport, on the ``websockets`` asyncio implementation."""

    def __init__(self, connection: ClientConnection, request: ConnectRequest) -> None:
        self._connection = connection
        self._request = request
        self._ping_failed = False
        self._keepalive: asyncio.Task[None] | None = None
        interval, timeout = request.ping_interval, request.ping_timeout
        if interval is not None and timeout is not None:
            self._keepalive = asyncio.get_running_loop().create_task(
                self._ping_forever(interval, timeout), name="motia-client-keepalive"
            )

    async def _ping_forever(self, interval: float, timeout: float) -> None:
        """Ping every ``interval``; drop the socket when a pong is ``timeout`` late.

        websockets' own keepalive would then wait up to its close timeout for a
        closing handshake that a half-open socket never completes; aborting at
        once keeps detection within ``interval + timeout``.
        """
        connection = self._connection
        try:
            while True:
                await asyncio.sleep(interval)
                pong = await connection.ping()
                # Not asyncio.wait_for: before Python 3.12 it swallows a cancellation
                # that arrives with the pong, and close() then waits on this loop forever.
                done, _ = await asyncio.wait({pong}, timeout=timeout)
                if not done:
                    raise TimeoutError
        except (TimeoutError, asyncio.TimeoutError):
            self._ping_failed = True
            connection.transport.abort()
        except ConnectionClosed:
            pass  # recv() reports the loss

    async def send(self, text: str) -> None:
        """Send one text frame."""
        try:
            await self._connection.send(text)
        except ConnectionClosed as exc:
            raise self._lost(exc) from exc

    async def recv(self) -> str | bytes:
        """Return the next text or binary frame."""
        try:
            return await self._connection.recv()
        except ConnectionClosed as exc:
            raise self._lost(exc) from exc

    async def close(self) -> None:
        """Stop pinging and close with a normal closure code."""
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None:
            keepalive.cancel()
            await asyncio.gather(keepalive, return_exceptions=True)
        await self._connection.close()

    def _lost(self, exc: ConnectionClosed) -> MotiaConnectionError | FrameTooLarge:
        sent = exc.sent
        if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
            return FrameTooLarge(self._request.max_size)
        rcvd = exc.rcvd
        if self._ping_failed:
            detail = "the keepalive ping got no answer in time"
        elif rcvd is not None:
            detail = f"the server closed the connection (code {rcvd.code})"
        elif sent is not None and sent.code == CloseCode.INTERNAL_ERROR:
            detail = "the keepalive ping got no answer in time"
        else:
            detail = "the connection was lost"
        return MotiaConnectionError(f"{detail}: {self._request.safe_url}")


async def websockets_transport(request: ConnectRequest) -> Transport:
    """Open a :class:`WebsocketsTransport` for ``request``."""
    creds = request.credentials
    ssl_arg: ssl_module.SSLContext | bool | None = request.ssl
    if ssl_arg is False:
        ssl_arg = ssl_module.create_default_context()
        ssl_arg.check_hostname = False
        ssl_arg.verify_mode = ssl_module.CERT_NONE
    elif ssl_arg is None:
        ssl_arg = True  # websockets' default context: certificate and host name verified
    if not creds.url.startswith("wss:"):
        ssl_arg = None
    try:
        connection = await _NoRedirects(
            creds.url,
            subprotocols=[Subprotocol(p) for p in creds.subprotocols] or None,
            additional_headers=list(creds.headers) or None,
            ssl=ssl_arg,
            open_timeout=request.open_timeout,
            # With a timeout, WebsocketsTransport pings itself (see _ping_forever).
            ping_interval=request.ping_interval if request.ping_timeout is None else None,
            ping_timeout=None,
            max_size=request.max_size,
            max_queue=None,
            close_timeout=CLOSE_TIMEOUT,
            compression=None,
            logger=_RedactingLogger(creds),
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise AuthenticationError(status, request.safe_url) from None
        raise MotiaConnectionError(
            f"the server at {request.safe_url} refused the upgrade (HTTP {status})"
        ) from None
    except (TimeoutError, asyncio.TimeoutError) as exc:
        raise MotiaTimeout(f"opening {request.safe_url} timed out") from exc
    except InvalidURI:
        raise ValueError(f"not a ws:// or wss:// URL: {request.safe_url}") from None
    except (OSError, InvalidHandshake, ConnectionClosed) as exc:
        raise MotiaConnectionError(
            f"could not connect to {request.safe_url}: {type(exc).__name__}"
        ) from exc
    return WebsocketsTransport(connection, request)
