"""Proxies: which one a stream URL goes through, and opening the tunnel.

The rules are ``websockets.connect``'s (websockets 15 and later), so the client
behaves like the implementation it replaced:

- ``proxy=True`` (the default) reads the environment through
  :func:`urllib.request.getproxies`: ``wss_proxy``/``ws_proxy`` first, then
  ``socks_proxy`` (as ``socks5h://``), then ``https_proxy``, then, for ``ws://``
  only, ``http_proxy``; lower-case names win over upper-case ones. A host that
  :func:`urllib.request.proxy_bypass` matches (``no_proxy``) connects
  directly. Loopback hosts get no special treatment on Linux: ``127.0.0.1``
  goes through the proxy unless ``no_proxy`` names it, as with websockets.
- ``proxy=None`` (or ``False``) connects directly; a URL uses that proxy.
- ``http://`` and ``https://`` proxies get an HTTP ``CONNECT`` (with
  ``Proxy-Authorization: Basic`` when the URL holds ``user:password@``);
  ``socks5h://``, ``socks5://``, ``socks4a://`` and ``socks4://`` need
  python-socks.

The tunnel is opened by websockets' own helpers (``get_proxy``,
``parse_proxy``, ``connect_http_proxy``, ``connect_socks_proxy``); the
transport then runs its WebSocket protocol over what they return. A proxy URL
may hold a password: it is shown only through :func:`redact_proxy`, and no
exception raised here quotes it or chains one that does.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl
import urllib.parse
from typing import TYPE_CHECKING, Any

from motia_client._exceptions import MotiaConnectionError

if TYPE_CHECKING:
    from websockets.proxy import Proxy
    from websockets.uri import WebSocketURI

# websockets is imported inside the functions: `import motia_client` does not pay
# for it (about 20 ms, a third of it websockets' importlib.metadata) before a connect.

__all__ = [
    "ProxyOption",
    "check_proxy",
    "describe_os_error",
    "open_tunnel",
    "parse",
    "proxy_for",
    "redact_proxy",
]

ProxyOption = str | bool | None
"""``True``: from the environment; ``None`` or ``False``: never; a URL: that proxy."""

_SCHEMES = "http://, https://, socks5h://, socks5://, socks4a:// or socks4://"


def redact_proxy(proxy: str) -> str:
    """Return ``scheme://host:port`` of a proxy URL, without user info: safe to show."""
    try:
        parts = urllib.parse.urlsplit(proxy)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "<an unparsable proxy URL>"
    if not parts.scheme or not host:
        return "<an unparsable proxy URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}" if port else f"{parts.scheme}://{host}"


def parse(proxy: str) -> Proxy:
    """Parse a proxy URL; raise ``ValueError`` quoting only its redacted form."""
    from websockets.exceptions import InvalidProxy
    from websockets.proxy import parse_proxy

    try:
        return parse_proxy(proxy)
    except (InvalidProxy, ValueError, UnicodeError):
        # Never InvalidProxy's text: it quotes the URL, password included.
        pass
    raise ValueError(
        f"{redact_proxy(proxy)} is not a valid proxy: expected {_SCHEMES} with a host, "
        "no path, and user info as user:password@"
    )


def check_proxy(option: object) -> None:
    """Raise if ``option`` is not a valid ``proxy=`` value (at client construction)."""
    if option is None or isinstance(option, bool):
        return
    if not isinstance(option, str):
        raise TypeError("proxy must be True (from the environment), None, or a proxy URL")
    parse(option)


def proxy_for(url: str, option: ProxyOption) -> str | None:
    """Return the proxy URL the connection to ``url`` goes through, or None."""
    if option is None or option is False:
        return None
    if option is True:
        from websockets.proxy import get_proxy
        from websockets.uri import parse_uri

        return get_proxy(parse_uri(url))
    return option


async def open_tunnel(proxy: str, url: str) -> asyncio.Transport | socket.socket:
    """Open a connection to ``url``'s host through ``proxy``.

    Returns an asyncio transport for an HTTP proxy (a ``CONNECT`` tunnel: the
    caller must ``set_protocol`` it, then ``start_tls`` for ``wss://``), or a
    connected socket for a SOCKS proxy (for ``loop.create_connection(sock=)``).
    Raises :class:`MotiaConnectionError` when the proxy cannot be reached or
    refuses; ``TimeoutError`` and cancellation pass through.
    """
    from websockets.exceptions import InvalidProxyMessage, InvalidProxyStatus
    from websockets.exceptions import ProxyError as WebsocketsProxyError
    from websockets.uri import parse_uri

    parsed = parse(proxy)
    uri: WebSocketURI = parse_uri(url)
    shown = redact_proxy(proxy)
    target = f"{uri.host}:{uri.port}"
    try:
        if parsed.scheme.startswith("socks"):
            return await _socks(parsed, uri)
        return await _http(parsed, uri)
    except InvalidProxyStatus as exc:
        status = exc.response.status_code
        hint = "; check the proxy's user:password" if status == 407 else ""
        raise MotiaConnectionError(
            f"the proxy {shown} refused to open a tunnel to {target} (HTTP {status}){hint}"
        ) from None
    except InvalidProxyMessage:
        raise MotiaConnectionError(
            f"the proxy {shown} did not answer the CONNECT to {target} with valid HTTP"
        ) from None
    except WebsocketsProxyError:  # python-socks refused: a SOCKS error reply, bad auth...
        raise MotiaConnectionError(
            f"the SOCKS proxy {shown} refused the connection to {target}"
        ) from None
    except (TimeoutError, asyncio.TimeoutError):
        raise
    except OSError as exc:  # unreachable proxy (python-socks' ProxyConnectionError too)
        what = f"could not connect to the proxy {shown} (for {target})"
        raise MotiaConnectionError(
            describe_os_error(exc, what, (parsed.host, parsed.port), role="proxy")
        ) from exc  # an OS error quotes addresses, never the proxy URL's password


_ERRNO = re.compile(r"\[Errno (-?\d+)\]")


def describe_os_error(
    exc: OSError, what: str, target: tuple[str, int] | None, *, role: str = "server"
) -> str:
    """``what: <the OS's text>``, led by a plain diagnosis for the common cases.

    ``target`` is the (host, port) that was dialled, when the error came from
    dialling it: "connection refused: is the server running on host:port?",
    "host not found: host". A TLS certificate that fails verification says so.
    """
    detail = f"{what}: {exc}" if str(exc) else f"{what}: {type(exc).__name__}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        trust = "pass ssl= a context that trusts it"
        return f"the {role}'s TLS certificate is not trusted: {trust} ({detail})"
    if target is None:
        return detail
    host, port = target
    if _refused(exc):
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return f"connection refused: is the {role} running on {where}? ({detail})"
    if isinstance(exc, socket.gaierror):
        return f"host not found: {host} ({detail})"
    return detail


def _refused(exc: OSError) -> bool:
    """A refused connection, also when asyncio merged one error per address into one text."""
    if isinstance(exc, ConnectionRefusedError):
        return True
    codes = _ERRNO.findall(str(exc)) if str(exc).startswith("Multiple exceptions") else []
    return bool(codes) and all(int(code) == errno.ECONNREFUSED for code in codes)


async def _http(proxy: Proxy, uri: WebSocketURI) -> asyncio.Transport:
    from websockets.asyncio.client import connect_http_proxy
    from websockets.http11 import USER_AGENT

    options: dict[str, Any] = {}
    if proxy.scheme == "https":
        options["ssl"] = True  # the proxy's certificate is verified (system store)
        options["server_hostname"] = proxy.host
    return await connect_http_proxy(proxy, uri, user_agent_header=USER_AGENT, **options)


async def _socks(proxy: Proxy, uri: WebSocketURI) -> socket.socket:
    from websockets.asyncio.client import connect_socks_proxy

    try:
        return await connect_socks_proxy(proxy, uri)
    except ImportError:
        raise ImportError(
            f"a {proxy.scheme}:// proxy needs python-socks: pip install 'python-socks[asyncio]'"
        ) from None
