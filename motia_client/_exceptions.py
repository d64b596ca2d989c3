"""The exceptions motia_client raises, all rooted at :class:`MotiaError`.

::

    MotiaError
    ├── ProtocolError              the peer broke the wire contract
    │   ├── FrameTooLarge          a WebSocket frame exceeded the client's max_size
    │   └── EventDataError         an SSE event's data is not the JSON it should be
    ├── MotiaConnectionError       the socket, proxy or HTTP connection failed or was lost
    │   └── AuthenticationError    the server refused the token that was sent (HTTP 401/403)
    ├── SubscriptionRefused        the server refused a join (iii `unauthorized`, 0.x access denied)
    ├── StateDrift                 a drift check found a room out of step with the server (repaired)
    ├── ItemValidationError        an item did not match the subscription's pydantic model
    ├── MotiaTimeout               a wait or an idle stream outlasted its timeout (a TimeoutError)
    ├── ClientClosedError          the client or subscription was used after close()
    └── HttpError                  a Motia HTTP step answered outside 2xx
        └── UnexpectedContentType  an SSE endpoint answered something other than text/event-stream

No exception text ever contains a token: messages are built from the URL without
its query string and from server-supplied bodies only. A connect failure says
what happened in words ("connection refused: is the server running on
localhost:3999?", "host not found: <host>", "the server at <url> answered HTTP
200, not a WebSocket upgrade: is this the stream port?"), keeps the operating
system's text, and chains the original exception as ``__cause__`` unless that
exception's text quotes the token.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ClientClosedError",
    "EventDataError",
    "FrameTooLarge",
    "HttpError",
    "ItemValidationError",
    "MotiaConnectionError",
    "MotiaError",
    "MotiaTimeout",
    "ProtocolError",
    "StateDrift",
    "SubscriptionRefused",
    "UnexpectedContentType",
]


class MotiaError(Exception):
    """Base class of every error motia_client raises on purpose."""


class ProtocolError(MotiaError):
    """The server sent something the Motia protocol does not allow."""


class FrameTooLarge(ProtocolError):
    """A frame was larger than the client's configured ``max_size``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"a frame exceeded the client's max_size of {limit} bytes; "
            "raise max_size= on the client to accept larger group syncs"
        )


class EventDataError(ProtocolError):
    """An SSE event carried data that is not valid JSON."""

    def __init__(self, event: str, data: str) -> None:
        self.event = event
        self.data = data
        preview = data if len(data) <= 80 else data[:77] + "..."
        super().__init__(f"SSE event {event!r} has data that is not JSON: {preview!r}")


class MotiaConnectionError(MotiaError):
    """A connection could not be opened, or was lost (the client retries per its policy).

    A 401/403 at connect time when no token was sent is one of these, not an
    :class:`AuthenticationError`: it usually means a wrong path or port.
    ``close_code`` is the WebSocket close code the server sent, when it closed
    the connection with one (1008 policy violation, 1009 message too big...).
    """

    def __init__(self, *args: object, close_code: int | None = None) -> None:
        super().__init__(*args)
        self.close_code = close_code


class AuthenticationError(MotiaConnectionError):
    """The server refused the token at connect time (HTTP 401 or 403).

    Raised only when a token was sent. Terminal: the client does not retry
    until its token callable gives another token.
    """

    def __init__(self, status: int, url: str) -> None:
        self.status = status
        self.url = url
        super().__init__(
            f"the server at {url} refused the credentials (HTTP {status}); "
            "not retrying until the token changes"
        )


class SubscriptionRefused(MotiaError):
    """The server refused to join a stream room; the subscription has ended."""

    def __init__(
        self,
        stream: str,
        group_id: str,
        item_id: str | None,
        reason: str | None = None,
    ) -> None:
        self.stream = stream
        self.group_id = group_id
        self.item_id = item_id
        self.reason = reason
        room = f"{stream}/{group_id}" + (f"/{item_id}" if item_id is not None else "")
        why = reason or "unauthorized"
        super().__init__(f"the server refused the subscription to {room}: {why}")


class StateDrift(MotiaError):
    """A drift check (``verify_interval``) found a room out of step with the server.

    The live socket had stopped delivering that room's changes (while pings still
    worked): the client replaced the room's state with the server's snapshot (the
    change feed says what changed, with ``resync=True``) and reconnected. ``missing``,
    ``extra`` and ``different`` are the item ids the server had and the client did not,
    the client had and the server did not, and both had with other values.
    """

    def __init__(
        self,
        stream: str,
        group_id: str,
        item_id: str | None,
        missing: tuple[str, ...],
        extra: tuple[str, ...],
        different: tuple[str, ...],
    ) -> None:
        self.stream = stream
        self.group_id = group_id
        self.item_id = item_id
        self.missing = missing
        self.extra = extra
        self.different = different
        room = f"{stream}/{group_id}" + (f"/{item_id}" if item_id is not None else "")
        super().__init__(
            f"{room} was out of step with the server ({len(missing)} missing, {len(extra)} "
            f"extra, {len(different)} different): repaired from a fresh snapshot; reconnecting"
        )


class ItemValidationError(MotiaError):
    """An item failed validation against the subscription's model and was skipped."""

    def __init__(self, item_id: str | None, detail: str) -> None:
        self.item_id = item_id
        self.detail = detail
        super().__init__(f"item {item_id!r} does not match the model: {detail}")


class MotiaTimeout(MotiaError, TimeoutError):
    """A wait, connect or idle stream read took longer than its timeout."""


class ClientClosedError(MotiaError):
    """The client or subscription was used after it was closed."""


class HttpError(MotiaError):
    """A Motia HTTP step answered with a status outside 2xx."""

    def __init__(
        self, status: int, method: str, url: str, body: Any, *, message: str | None = None
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.body = body
        super().__init__(message or f"{method} {url} answered HTTP {status}: {body!r}")


class UnexpectedContentType(HttpError):
    """An endpoint expected to stream SSE answered with another content type."""

    def __init__(self, status: int, method: str, url: str, content_type: str) -> None:
        self.content_type = content_type
        shown = content_type or "no content type"
        super().__init__(
            status,
            method,
            url,
            None,
            message=f"{method} {url} answered {shown!r}, not text/event-stream",
        )
