"""The default transport: websockets' sans-I/O protocol under a plain ``asyncio.Protocol``.

``websockets.client.ClientProtocol`` does the WebSocket work (handshake, frame
parsing, masking, answering pings, the closing handshake, ``max_size`` on whole
messages); this module only moves bytes: ``data_received`` feeds the protocol,
writes what it asks to send, and hands each whole message to the reader. In push
mode (:meth:`WebsocketsTransport.start_reading`) that is one synchronous call
per message, from the socket callback: no task, future or queue per message,
which is most of what a small frame costs on websockets' asyncio layer.

Same contract as the other transports (``_transport``): keepalive inside (a
timer, no task), foreign errors translated, no redirects, and the token in no
log record: websockets logs every handshake header at DEBUG level, so its
protocol gets a logger that masks the token in each record.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl as ssl_module
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from websockets.client import ClientProtocol
from websockets.exceptions import (
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    SecurityError,
)
from websockets.frames import Frame, Opcode
from websockets.http11 import USER_AGENT, Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from motia_client._auth import Credentials
from motia_client._exceptions import (
    FrameTooLarge,
    MotiaConnectionError,
    MotiaTimeout,
)
from motia_client._proxy import describe_os_error, open_tunnel, proxy_for, redact_proxy
from motia_client._transport import (
    CLOSE_TIMEOUT,
    MESSAGE_TOO_BIG,
    ConnectRequest,
    MessageInbox,
    Transport,
    bounded,
    server_closed,
    upgrade_refused,
)
from motia_client._wsframes import INCOMPLETE, REFUSED, scan

__all__ = ["WebsocketsTransport", "websockets_transport"]

logger = logging.getLogger("motia_client")

_TEXT, _BINARY, _CONT, _PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PONG
_OPEN = State.OPEN
_MAX_RESPONSE_HEAD = 64 * 1024

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


class _Connection(asyncio.Protocol, MessageInbox):
    """Moves bytes between the socket and a :class:`ClientProtocol`; collects messages."""

    def __init__(self, protocol: ClientProtocol, request: ConnectRequest) -> None:
        MessageInbox.__init__(self)
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.protocol = protocol
        self.max_size = request.max_size
        self.ping_interval = request.ping_interval
        self.ping_timeout = request.ping_timeout
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.fragments: bytearray | None = None
        self.pending = bytearray()  # bytes not yet cut into frames (fast path, handshake)
        self.need = 0  # how many pending bytes the frame in front needs to be whole
        self.fast = False  # set once the handshake is done: see _split
        self.head_passed = False  # the protocol has the handshake response head
        self.ping_failed = False
        self.ping_payload: bytes | None = None
        self.timer: asyncio.TimerHandle | None = None  # the next ping, or a pong's deadline
        self.close_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.fast:
            self._split(data)
        elif self.head_passed:
            self._feed(data)
        else:
            self._response_head(data)

    def _feed(self, data: bytes) -> None:
        """Hand ``data`` to the protocol, send what it answers, then take its events."""
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        if protocol.writes:  # a pong, a close echo, EOF after a failed handshake...
            self.flush()
        if protocol.state is not _OPEN:
            self.fast = False
            self._closing()
        if self.handshake.done():
            for event in events:
                self._frame(event)  # type: ignore[arg-type]
        else:
            self._handshake(events)

    def _split(self, data: bytes) -> None:
        """The fast path: plain messages go straight to the reader (``_wsframes.scan``).

        Every other frame goes to the protocol whole, so its parser always starts at a
        frame boundary; a frame it must refuse before it is complete (too big, masked)
        goes to it with everything after it, for good. A frame that is not whole waits
        in ``pending`` until it is, without being scanned again at each read.
        """
        pending = self.pending
        if pending:
            pending += data
            if len(pending) < self.need:
                return  # the frame in front is not whole yet
            buf = bytes(pending)
            pending.clear()
        else:
            buf = data
        deliver = self.deliver or self._push
        pos = 0
        while True:
            pos, end, why = scan(buf, pos, self.max_size, self.fragments is None, deliver)
            if why == INCOMPLETE:
                self.need = end - pos
                pending += buf[pos:]
                return
            if why == REFUSED:
                self.fast = False
                self._feed(buf[pos:])
                return
            self._feed(buf[pos:end])
            if not self.fast:  # closing: the protocol takes (and discards) the rest
                if end < len(buf):
                    self._feed(buf[end:])
                return
            pos = end

    def _response_head(self, data: bytes) -> None:
        """Give the protocol the handshake response, and not one byte after it.

        Its parser then waits at a frame boundary, where :meth:`_split` can take over.
        """
        pending = self.pending
        pending += data
        end = pending.find(b"\r\n\r\n")
        if end < 0:
            if len(pending) <= _MAX_RESPONSE_HEAD:
                return
            end = len(pending)  # no end in sight: the protocol will refuse it
        else:
            end += 4
        head, rest = bytes(pending[:end]), bytes(pending[end:])
        pending.clear()
        self.head_passed = True
        self._feed(head)
        protocol = self.protocol
        # DEBUG logging of every frame is the protocol's: keep it on the slow path.
        self.fast = protocol.state is _OPEN and not protocol.debug
        if rest:
            self.data_received(rest)

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self.flush()
        return None  # let asyncio close the socket: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent; the state is CLOSED after it
        self._stop_keepalive()
        if self.close_timer is not None:
            self.close_timer.cancel()
        if not self.handshake.done():
            self.handshake.set_result(None)  # the opener reads handshake_exc
        if not self.lost.done():
            self.lost.set_result(None)
        self._end()

    # -- frames in ----------------------------------------------------------------------

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is _TEXT or opcode is _BINARY:
            if frame.fin:
                self._push(bytes(frame.data))
            else:  # the first frame of a fragmented message
                self.fragments = bytearray(frame.data)
        elif opcode is _CONT:
            # The protocol rejects a stray continuation and counts the whole
            # message against max_size (it fails the connection with 1009).
            fragments = self.fragments
            if fragments is None:
                return
            fragments += frame.data
            if frame.fin:
                self.fragments = None
                self._push(bytes(fragments))
        elif opcode is _PONG and frame.data == self.ping_payload:
            self.ping_payload = None  # the pong we waited for: next ping in ping_interval
            self._schedule_ping()
        # PING is answered by the protocol (flushed in data_received); CLOSE ends in
        # connection_lost once the server closes the socket.

    # -- the opening handshake ----------------------------------------------------------

    def send_request(self, headers: tuple[tuple[str, str], ...]) -> None:
        """Send the upgrade request (with ``headers`` added), logged with the token masked."""
        protocol = self.protocol
        request = protocol.connect()
        for name, value in headers:
            request.headers[name] = value
        request.headers.setdefault("User-Agent", USER_AGENT)
        protocol.send_request(request)
        self.flush()

    def _handshake(self, events: list[Any]) -> None:
        if self.protocol.handshake_exc is not None:
            self.handshake.set_result(None)  # the opener raises it
            return
        if not events or not isinstance(events[0], Response):
            return  # the response is not complete yet
        self.handshake.set_result(None)
        self._schedule_ping()
        for event in events[1:]:  # frames that came with the response
            self._frame(event)

    # -- frames out ---------------------------------------------------------------------

    def flush(self) -> None:
        """Write what the protocol has to send; an empty chunk means half-close."""
        transport = self.transport
        for chunk in self.protocol.data_to_send():
            if transport is None or transport.is_closing():
                continue
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()
            else:  # TLS cannot half-close
                transport.close()

    def _closing(self) -> None:
        """The protocol expects the socket to close: make sure it does, in bounded time."""
        if self.close_timer is None and not self.closed and self.protocol.close_expected():
            self.close_timer = self.loop.call_later(CLOSE_TIMEOUT, self.abort)

    def abort(self) -> None:
        """Drop the socket at once (connection_lost follows)."""
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Start the closing handshake with a normal closure; the socket closes in bounded time."""
        self._stop_keepalive()
        if self.protocol.state is _OPEN:
            self.protocol.send_close(1000)
            self.flush()
            self._closing()

    # -- keepalive ----------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        self._stop_keepalive()
        if self.ping_interval is not None and self.protocol.state is _OPEN:
            self.timer = self.loop.call_later(self.ping_interval, self._ping)

    def _ping(self) -> None:
        """Ping; drop the socket when the pong is ``ping_timeout`` late (a half-open socket).

        Waiting for a closing handshake that a half-open socket never completes
        would delay detection; aborting at once keeps it within interval + timeout.
        """
        self.timer = None
        if self.protocol.state is not _OPEN:
            return
        payload = os.urandom(4)
        self.protocol.send_ping(payload)
        self.flush()
        if self.ping_timeout is None:
            self._schedule_ping()  # ping to keep the socket busy; no deadline
        else:
            self.ping_payload = payload
            self.timer = self.loop.call_later(self.ping_timeout, self._pong_missing)

    def _pong_missing(self) -> None:
        self.timer = None
        self.ping_failed = True
        self.abort()

    def _stop_keepalive(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class WebsocketsTransport:
    """A :class:`~motia_client._transport.PushTransport` on websockets' sans-I/O protocol."""

    def __init__(self, connection: _Connection, request: ConnectRequest) -> None:
        self._connection = connection
        self._request = request

    async def send(self, text: str) -> None:
        """Send one text frame."""
        connection = self._connection
        if connection.closed or connection.protocol.state is not _OPEN:
            raise self._lost()
        connection.protocol.send_text(text.encode())
        connection.flush()

    async def recv(self) -> bytes:
        """Return the next whole message (text as UTF-8 bytes)."""
        return await self._connection.next_message(self._lost)

    def start_reading(self, deliver: Callable[[bytes], None]) -> None:
        """Push mode: call ``deliver(message)`` for each message, from the socket callback.

        Messages that arrived before are delivered first, in order.
        """
        self._connection.start_reading(deliver)

    async def wait_closed(self) -> None:
        """Wait until the connection ends, then raise why (push mode's end)."""
        await self._connection.wait_ended(self._lost)

    async def close(self) -> None:
        """Close with a normal closure; drop the socket if that takes over CLOSE_TIMEOUT."""
        connection = self._connection
        connection.close()
        if not connection.lost.done():
            # A future, not a task: nothing is left behind if this is cancelled.
            done, _ = await asyncio.wait({connection.lost}, timeout=CLOSE_TIMEOUT)
            if not done:
                connection.abort()

    def _lost(self) -> MotiaConnectionError | FrameTooLarge:
        protocol = self._connection.protocol
        sent, rcvd = protocol.close_sent, protocol.close_rcvd
        # Our own max_size (not an echo of the server's 1009: that is the server's limit).
        if sent is not None and sent.code == MESSAGE_TOO_BIG and not protocol.close_rcvd_then_sent:
            return FrameTooLarge(self._request.max_size)
        url = self._request.safe_url
        if self._connection.ping_failed:
            return MotiaConnectionError(f"the keepalive ping got no answer in time: {url}")
        if rcvd is not None:
            return server_closed(rcvd.code, url)
        return MotiaConnectionError(f"the connection was lost: {url}")


def _ssl_context(request: ConnectRequest) -> ssl_module.SSLContext | None:
    if not request.credentials.url.startswith("wss:"):
        return None
    if isinstance(request.ssl, ssl_module.SSLContext):
        return request.ssl
    context = ssl_module.create_default_context()  # certificate and host name verified
    if request.ssl is False:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


async def websockets_transport(request: ConnectRequest) -> Transport:
    """Open a :class:`WebsocketsTransport` for ``request``."""
    creds = request.credentials
    try:
        uri = parse_uri(creds.url)
    except InvalidURI:
        raise ValueError(f"not a ws:// or wss:// URL: {request.safe_url}") from None
    protocol = ClientProtocol(
        uri,
        subprotocols=[Subprotocol(p) for p in creds.subprotocols] or None,
        max_size=request.max_size,
        logger=_RedactingLogger(creds),
    )
    connection = _Connection(protocol, request)
    context = _ssl_context(request)
    proxy = proxy_for(creds.url, request.proxy)
    loop = asyncio.get_running_loop()
    try:
        async with bounded(request.open_timeout):
            if proxy is None:
                await loop.create_connection(
                    lambda: connection,
                    uri.host,
                    uri.port,
                    ssl=context,
                    server_hostname=uri.host if context is not None else None,
                )
            else:
                logger.debug("connecting through the proxy %s", redact_proxy(proxy))
                await _through(proxy, connection, context, uri.host, creds.url)
            connection.send_request(creds.headers)
            await connection.handshake
    except BaseException as exc:
        connection.abort()
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            raise MotiaTimeout(
                f"opening {request.safe_url} timed out after {request.open_timeout:g} s"
            ) from exc
        if isinstance(exc, OSError):
            target = (uri.host, uri.port) if proxy is None else None
            message = describe_os_error(exc, f"could not connect to {request.safe_url}", target)
            raise MotiaConnectionError(message) from _safe_cause(exc, creds)
        raise
    failure = protocol.handshake_exc
    if failure is None and protocol.state is not _OPEN:
        failure = ConnectionResetError()  # unreachable: websockets sets handshake_exc
    if failure is not None:
        connection.abort()
        raise _refused(failure, request) from _safe_cause(failure, creds)
    return WebsocketsTransport(connection, request)


async def _through(
    proxy: str,
    connection: _Connection,
    context: ssl_module.SSLContext | None,
    host: str,
    url: str,
) -> None:
    """Connect ``connection`` to the server through ``proxy`` (see ``_proxy``).

    As ``websockets.connect`` does: a SOCKS socket is handed to
    ``create_connection``; an HTTP ``CONNECT`` tunnel gets our protocol with
    ``set_protocol``, and TLS to the server on top of it with ``start_tls``.
    Either way the bytes end up in ``_Connection``, so its fast path is unchanged.
    """
    loop = asyncio.get_running_loop()
    tunnel = await open_tunnel(proxy, url)
    server_hostname = host if context is not None else None
    if isinstance(tunnel, socket.socket):
        try:
            await loop.create_connection(
                lambda: connection, sock=tunnel, ssl=context, server_hostname=server_hostname
            )
        except BaseException:
            tunnel.close()
            raise
        return
    transport: asyncio.Transport = tunnel
    try:
        tunnel.set_protocol(connection)
        if context is not None:
            secured = await loop.start_tls(
                tunnel, connection, context, server_hostname=server_hostname
            )
            assert secured is not None  # None only for a transport that is closing
            transport = secured
    except BaseException:
        tunnel.abort()
        raise
    connection.connection_made(transport)


def _refused(failure: Exception, request: ConnectRequest) -> MotiaConnectionError:
    """The exception for a failed opening handshake, in words a user can act on.

    401/403 is an :class:`AuthenticationError` (terminal until the token
    changes) only when a token was sent; without one it is more likely a wrong
    path or port, so it is a plain :class:`MotiaConnectionError`. A redirect
    (3xx) is refused, never followed: a token must not travel to another host.
    No message quotes a header value, a reason phrase or a body: the server may
    echo the token in them.
    """
    url = request.safe_url
    if isinstance(failure, InvalidStatus):
        status = failure.response.status_code
        if status in (401, 403):
            return upgrade_refused(status, url, bool(request.credentials.secrets()))
        return MotiaConnectionError(
            f"the server at {url} answered HTTP {status}, not a WebSocket upgrade: "
            + _status_hint(status)
        )
    if isinstance(failure, InvalidMessage):
        if isinstance(failure.__cause__, EOFError):
            return MotiaConnectionError(
                f"the server at {url} closed the connection without answering the WebSocket "
                "upgrade: is this the stream port (or does it need wss://)?"
            )
        return MotiaConnectionError(
            f"the server at {url} did not answer in HTTP: is this the stream port "
            "(or does it need wss://)?"
        )
    if isinstance(failure, InvalidHeader):  # InvalidUpgrade among them
        return MotiaConnectionError(
            f"the server at {url} answered the WebSocket upgrade with a missing or invalid "
            f"{failure.name} header: is this a WebSocket server?"
        )
    if isinstance(failure, NegotiationError):
        return MotiaConnectionError(
            f"the server at {url} chose a subprotocol or extension the client did not offer"
        )
    if isinstance(failure, SecurityError):
        return MotiaConnectionError(
            f"the server at {url} answered the upgrade with an oversized HTTP head"
        )
    name = type(failure).__name__  # never its text: it may quote a header
    return MotiaConnectionError(f"could not connect to {url}: {name}")


def _status_hint(status: int) -> str:
    """What to check when the server answered ``status`` instead of 101 Switching Protocols."""
    if 300 <= status < 400:
        return "redirects are not followed (a token must not travel elsewhere): use the final URL"
    if status == 404:
        return "is the path right?"
    if status >= 500:
        return "the server had an error; try again later"
    return "is this the stream port?"


def _safe_cause(exc: BaseException, credentials: Credentials) -> BaseException | None:
    """``exc`` to chain as ``__cause__``, or None if its text (or its causes') holds the token.

    A server can echo the request, and websockets quotes what it received (a
    status line, a subprotocol) in its messages.
    """
    secrets = credentials.secrets()
    seen: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; bounded all the same
        if seen is None:
            return exc
        text = f"{seen!s} {seen!r}"
        if any(secret in text for secret in secrets):
            return None
        seen = seen.__cause__ or seen.__context__
    return None
