"""Credentials: where a token travels, how it is checked, and how it stays secret.

PROTOCOL.md section 2: a token travels as the subprotocol pair
``["Authorization", token]`` (the official clients' way), as an
``Authorization: Bearer`` header, or as the ``authToken`` query parameter.
Nothing in this module, or anything that calls it, puts a token in a log line,
an exception message or a repr: URLs are shown without their query string.
"""

from __future__ import annotations

import inspect
import string
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["AuthMode", "Credentials", "TokenSource", "check_token", "redact_url", "resolve"]

AuthMode = Literal["subprotocol", "header", "query"]
TokenSource = str | Callable[[], str] | Callable[[], Awaitable[str]] | None

# RFC 7230 tchar: the only characters a Sec-WebSocket-Protocol value may hold.
_TCHAR = frozenset("!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters)


def check_token(token: str, mode: AuthMode) -> None:
    """Raise ``ValueError`` if ``token`` cannot travel the chosen way (never quoting it).

    The one token rule of the library, for the WebSocket client and ``MotiaHttp`` alike:
    any non-empty string may travel in the query (it is URL-encoded); a header token
    (``Authorization: Bearer <token>``) must be visible ASCII, the characters RFC 6750's
    bearer tokens use, so it can neither break the header nor be split by a server;
    a subprotocol token must be RFC 7230 ``tchar`` only.
    """
    if not isinstance(token, str) or not token:
        raise ValueError("the token must be a non-empty string")
    if mode == "subprotocol":
        bad = sorted({c for c in token if c not in _TCHAR})
        if bad:
            shown = ", ".join(_describe(c) for c in bad)
            raise ValueError(
                f"the token holds characters that cannot travel as a WebSocket subprotocol "
                f"({shown}); pass auth='header' (Authorization: Bearer) or auth='query' "
                "(?authToken=) instead"
            )
    elif mode == "header" and any(not ("!" <= c <= "~") for c in token):
        bad = sorted({c for c in token if not ("!" <= c <= "~")})
        raise ValueError(
            "a header token must be visible ASCII: no spaces, line breaks, control or "
            f"non-ASCII characters, which an Authorization header cannot carry intact "
            f"(found {', '.join(_describe(c) for c in bad)}; the token is not shown)"
        )


def _describe(char: str) -> str:
    """A character of a refused token, named without quoting the token around it."""
    if char == " ":
        return "space"
    if char.isprintable():
        return repr(char)
    return f"U+{ord(char):04X}"


def redact_url(url: object) -> str:
    """Return ``url`` as ``scheme://host[:port]/path``: safe to log and show.

    The one URL redactor of the library: query string, fragment and user info
    (where tokens and passwords travel) are dropped. It never raises, so error
    paths can call it on any input; ``url`` may be a string or an ``httpx.URL``.
    """
    try:
        parts = urllib.parse.urlsplit(str(url))
    except ValueError:  # e.g. an unbalanced "[" in the host
        return "<an unparsable URL>"
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path or "/", "", ""))


async def resolve(source: TokenSource) -> str | None:
    """Return the current token from a string or a sync or async callable."""
    if source is None or isinstance(source, str):
        return source
    value = source()
    if inspect.isawaitable(value):
        value = await value
    if value is not None and not isinstance(value, str):
        raise TypeError("the token callable must return a string or None")
    return value


@dataclass(frozen=True, repr=False)
class Credentials:
    """What one connection attempt presents: the URL, subprotocols and headers to use."""

    url: str
    subprotocols: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def build(
        cls,
        url: str,
        token: str | None,
        mode: AuthMode,
        headers: dict[str, str] | None = None,
    ) -> Credentials:
        """Place ``token`` on the wire the ``mode`` way (checking it first)."""
        extra = tuple((headers or {}).items())
        if token is None:
            return cls(url, (), extra)
        check_token(token, mode)
        if mode == "subprotocol":
            return cls(url, ("Authorization", token), extra)
        if mode == "header":
            return cls(url, (), (*extra, ("Authorization", f"Bearer {token}")))
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query = [(k, v) for k, v in query if k != "authToken"] + [("authToken", token)]
        return cls(
            url=parts._replace(query=urllib.parse.urlencode(query)).geturl(),
            subprotocols=(),
            headers=extra,
        )

    def secrets(self) -> tuple[str, ...]:
        """Every form the token takes on the wire (longest first), to mask in any text."""
        found: set[str] = set()
        if len(self.subprotocols) > 1 and self.subprotocols[0] == "Authorization":
            found.update(self.subprotocols[1:])
        for name, value in self.headers:
            if name.lower() == "authorization":
                found.update((value, value.partition(" ")[2]))
        for name, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(self.url).query):
            if name == "authToken":
                found.update((value, urllib.parse.quote_plus(value), urllib.parse.quote(value)))
        return tuple(sorted((s for s in found if s), key=len, reverse=True))

    def __repr__(self) -> str:
        return f"Credentials(url={redact_url(self.url)!r}, <secret>)"
