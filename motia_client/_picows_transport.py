"""The fast transport, on ``picows`` (the ``motia-client[fast]`` extra).

Same contract as the ``websockets`` transport (``_transport``): frames in,
text out, keepalive inside, foreign errors translated, no redirects. picows
hands over raw frames from its Cython parser, so this module reassembles
fragmented messages and enforces ``max_size`` on whole messages itself.
Received messages wait in a deque; :meth:`PicowsTransport.recv` only suspends
when it is empty, so a burst of frames costs no event-loop round trip each.

Proxies: the proxy is chosen by websockets' rules (``_proxy``); picows opens
``http://`` and ``https://`` proxies itself (its ``proxy=``). SOCKS proxies are
left to the websockets transport, whose SOCKS schemes and DNS rules are
websockets' own (:func:`picows_takes` says which; ``transport="auto"`` asks it).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import ssl as ssl_module
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSInvalidStatusError,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from motia_client._exceptions import (
    AuthenticationError,
    FrameTooLarge,
    MotiaConnectionError,
    MotiaTimeout,
)
from motia_client._proxy import parse, proxy_for, redact_proxy
from motia_client._transport import (
    CLOSE_TIMEOUT,
    ConnectRequest,
    MessageInbox,
    Transport,
    bounded,
)

try:  # a picows dependency since it takes proxies
    from python_socks import ProxyError as _SocksProxyError
except ImportError:  # pragma: no cover - an older picows without proxy support

    class _SocksProxyError(Exception):  # type: ignore[no-redef]
        """Never raised: stands in for python-socks' ProxyError."""


__all__ = ["PicowsTransport", "picows_takes", "picows_transport"]

logger = logging.getLogger("motia_client")

_PROXY_SUPPORT = "proxy" in inspect.signature(ws_connect).parameters
# Enum members read once: an attribute of an enum class costs ~75 ns, on every frame.
_TEXT, _BINARY, _CONTINUATION, _CLOSE = (
    WSMsgType.TEXT,
    WSMsgType.BINARY,
    WSMsgType.CONTINUATION,
    WSMsgType.CLOSE,
)
_PROXY_SCHEMES = ("http", "https")  # picows' own CONNECT; SOCKS stays with websockets
_PROXY_STATUS = re.compile(r"status (\d{3})")


def picows_takes(request: ConnectRequest) -> bool:
    """Whether picows can open ``request``: directly, or through an HTTP(S) proxy."""
    proxy = proxy_for(request.credentials.url, request.proxy)
    return proxy is None or _takes(proxy)


def _takes(proxy: str) -> bool:
    return _PROXY_SUPPORT and proxy.partition(":")[0].lower() in _PROXY_SCHEMES


class _Listener(WSListener, MessageInbox):
    """Collects whole messages from picows callbacks."""

    def __init__(self, max_size: int) -> None:
        MessageInbox.__init__(self)
        self.max_size = max_size
        self.fragments: bytearray | None = None
        self.fragment_type = WSMsgType.TEXT
        self.error: BaseException | None = None
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if frame.fin and msg_type is not _CONTINUATION:
            if msg_type is _TEXT or msg_type is _BINARY:
                deliver = self.deliver
                if deliver is None:
                    self._push(frame.get_payload_as_bytes())
                else:  # push mode, with MessageInbox._push inlined: this runs per message
                    try:
                        deliver(frame.get_payload_as_bytes())
                    except Exception:  # the receiver isolates its own errors; a last guard
                        logger.exception("a received message could not be handled; skipped")
            elif msg_type is _CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            return
        if msg_type is _CONTINUATION:
            if self.fragments is None:
                self._abort(transport, WSCloseCode.PROTOCOL_ERROR)
                return
            self.fragments += frame.get_payload_as_memoryview()
        else:  # the first frame of a fragmented message
            self.fragments = bytearray(frame.get_payload_as_memoryview())
        if len(self.fragments) > self.max_size:
            self.fragments = None
            self.error = FrameTooLarge(self.max_size)
            self._abort(transport, WSCloseCode.MESSAGE_TOO_BIG)
            return
        if frame.fin:
            message, self.fragments = bytes(self.fragments), None
            self._push(message)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        handshake = transport.close_handshake
        if self.error is None and handshake is not None:
            sent = handshake.sent
            if sent is not None and sent.code is WSCloseCode.MESSAGE_TOO_BIG:
                self.error = FrameTooLarge(self.max_size)
        self._end()

    def _abort(self, transport: WSTransport, code: WSCloseCode) -> None:
        transport.send_close(code)
        transport.disconnect()


class PicowsTransport:
    """A :class:`Transport` on a picows connection."""

    def __init__(self, transport: WSTransport, listener: _Listener, request: ConnectRequest):
        self._transport = transport
        self._listener = listener
        self._request = request

    async def send(self, text: str) -> None:
        """Send one text frame."""
        if self._listener.closed:
            raise self._lost()
        self._transport.send(_TEXT, text.encode())

    async def recv(self) -> bytes:
        """Return the next whole message (text frames as UTF-8 bytes)."""
        return await self._listener.next_message(self._lost)

    def start_reading(self, deliver: Callable[[bytes], None]) -> None:
        """Push mode: call ``deliver(message)`` for each message, from picows' callback.

        Messages that arrived before are delivered first, in order. This skips a
        coroutine and a queue per message, which is most of the cost of a small frame.
        """
        self._listener.start_reading(deliver)

    async def wait_closed(self) -> None:
        """Wait until the connection ends, then raise why (push mode's end)."""
        await self._listener.wait_ended(self._lost)

    async def close(self) -> None:
        """Send a normal close and wait briefly for the disconnect."""
        transport = self._transport
        if not self._listener.closed:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        # Not asyncio.wait_for: before Python 3.12 it swallows a cancellation that
        # arrives as the disconnect completes, and the client's close() then hangs.
        disconnected = asyncio.ensure_future(transport.wait_disconnected())
        try:
            done, _ = await asyncio.wait({disconnected}, timeout=CLOSE_TIMEOUT)
        finally:
            disconnected.cancel()
        if not done:
            transport.disconnect(graceful=False)

    def _lost(self) -> MotiaConnectionError | FrameTooLarge:
        error = self._listener.error
        if isinstance(error, FrameTooLarge):
            return error
        handshake = self._transport.close_handshake
        url = self._request.safe_url
        if handshake is not None and handshake.recv is not None:
            code = handshake.recv.code
            value = code.value if isinstance(code, WSCloseCode) else code
            return MotiaConnectionError(f"the server closed the connection (code {value}): {url}")
        return MotiaConnectionError(f"the connection was lost: {url}")


def _ssl_context(request: ConnectRequest) -> ssl_module.SSLContext | None:
    if not request.credentials.url.startswith("wss:"):
        return None
    if isinstance(request.ssl, ssl_module.SSLContext):
        return request.ssl
    context = ssl_module.create_default_context()
    if request.ssl is False:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


async def picows_transport(request: ConnectRequest) -> Transport:
    """Open a :class:`PicowsTransport` for ``request``."""
    creds = request.credentials
    headers: list[tuple[str, str]] = list(creds.headers)
    if creds.subprotocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(creds.subprotocols)))
    max_size = request.max_size
    ping = request.ping_interval is not None and request.ping_timeout is not None
    options: dict[str, Any] = {}
    if ping:
        options["auto_ping_idle_timeout"] = request.ping_interval
        options["auto_ping_reply_timeout"] = request.ping_timeout
    proxy = proxy_for(creds.url, request.proxy)
    via = ""
    if proxy is not None:
        parse(proxy)  # a ValueError that does not quote the password
        if not _takes(proxy):
            raise ValueError(
                f"transport='picows' cannot connect through the proxy {redact_proxy(proxy)} "
                "(it takes http:// and https:// proxies); use transport='websockets' or "
                "'auto', or proxy=None to connect directly"
            )
        options["proxy"] = proxy
        via = f" through the proxy {redact_proxy(proxy)}"
        logger.debug("connecting%s", via)
    # picows bounds the WebSocket handshake only; a proxy that accepts and never
    # answers the CONNECT would hang, so with a proxy open_timeout bounds it all.
    bound = bounded(request.open_timeout) if proxy is not None else nullcontext()
    try:
        async with bound:
            transport, listener = await ws_connect(
                lambda: _Listener(max_size),
                creds.url,
                ssl_context=_ssl_context(request),
                websocket_handshake_timeout=request.open_timeout,
                enable_auto_ping=ping,
                enable_auto_pong=True,
                max_frame_size=max_size,
                extra_headers=headers or None,
                max_redirects=0,
                logger_name="motia_client.picows",
                **options,
            )
    except WSInvalidStatusError as exc:
        status = int(exc.response.status) if exc.response is not None else 0
        if status in (401, 403):
            raise AuthenticationError(status, request.safe_url) from None
        raise MotiaConnectionError(
            f"the server at {request.safe_url} refused the upgrade (HTTP {status})"
        ) from None
    except (TimeoutError, asyncio.TimeoutError):
        raise MotiaTimeout(f"opening {request.safe_url} timed out") from None
    except _SocksProxyError as exc:  # picows' CONNECT was refused (never its text)
        assert proxy is not None
        found = _PROXY_STATUS.search(str(exc))
        code = f" (HTTP {found.group(1)})" if found else ""
        hint = "; check the proxy's user:password" if code == " (HTTP 407)" else ""
        raise MotiaConnectionError(
            f"the proxy {redact_proxy(proxy)} refused to open a tunnel to "
            f"{request.safe_url}{code}{hint}"
        ) from None
    except (OSError, WSError) as exc:
        raise MotiaConnectionError(
            f"could not connect to {request.safe_url}{via}: {type(exc).__name__}"
        ) from None
    if not isinstance(listener, _Listener):  # picows returns no listener, rather than
        # raising, when the peer closes the connection during the handshake
        raise MotiaConnectionError(
            f"could not connect to {request.safe_url}: the connection closed during the handshake"
        )
    return PicowsTransport(transport, listener, request)
