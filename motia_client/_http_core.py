"""The shared, pure part of the HTTP side: request building, checks, SSE readers.

:class:`MotiaHttp` and :class:`AsyncMotiaHttp` (``_http``) only move bytes;
everything that decides something lives here, once, for both::

    request = base._request(...)           build
    response = send(request)               I/O (in _http): the only line that differs
    _check_sse_response(...) / _read_json  check
    for frame in EventSource(response):    I/O (in _http)
        reader.feed(frame) -> value|None   decode
    reader.end(request)                    the stream closed: complete or not?

Every httpx exception is translated at the boundary by :class:`_Translate`
(``raise ... from exc``). Messages are built from the request method and the URL
without its query string or user info; the token only ever travels in the
``Authorization`` header, which httpx masks in its own reprs.
"""

from __future__ import annotations

import functools
import json as jsonlib
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol, TypeVar

import httpx
import pydantic
from httpx_sse import ServerSentEvent

from motia_client._exceptions import (
    ClientClosedError,
    HttpError,
    MotiaConnectionError,
    MotiaError,
    MotiaTimeout,
    ProtocolError,
    UnexpectedContentType,
)
from motia_client.sse import CHAT_DONE, ChatChunk, SseEvent, decode_chat_chunk, decode_event

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "FormData",
    "QueryParams",
    "T",
    "_ChatReader",
    "_EventReader",
    "_HttpBase",
    "_Reader",
    "_Translate",
    "_check_sse_response",
    "_read_json",
]

logger = logging.getLogger("motia_client.http")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Primitive = str | int | float | bool
FormData = Mapping[str, Primitive]
QueryParams = Mapping[str, Primitive]

SSE_MEDIA_TYPE = "text/event-stream"
JSON_MEDIA_TYPE = "application/json"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0


def _public_url(url: httpx.URL) -> str:
    """The URL as it may appear in messages: no query string, fragment or user info."""
    return str(url.copy_with(query=None, fragment=None, userinfo=b""))


def _check_token(token: str) -> None:
    """Refuse a token that cannot travel in a header, without ever echoing it.

    httpx and h11 would reject it later with the header value in their message.
    """
    if not token or any(not ("!" <= ch <= "~") for ch in token):
        raise ValueError(
            "token must be a non-empty string of visible ASCII characters "
            "(no spaces, control characters or non-ASCII); the token is not shown"
        )


def _build_request(
    client: httpx.Client | httpx.AsyncClient,
    method: str,
    path: str,
    *,
    json: Any,
    data: FormData | None,
    params: QueryParams | None,
    headers: Mapping[str, str] | None,
    sse: bool,
) -> httpx.Request:
    """Build one request: a JSON or form body, the Accept header for its shape."""
    if json is not None and data is not None:
        raise ValueError("pass a JSON body (json=) or a form body (data=), not both")
    merged = {"Accept": SSE_MEDIA_TYPE if sse else JSON_MEDIA_TYPE}
    if sse:
        merged["Cache-Control"] = "no-store"
    merged.update(headers or {})
    return client.build_request(
        method.upper(), path, json=json, data=data, params=params, headers=merged
    )


def _log_response(request: httpx.Request, response: httpx.Response) -> None:
    logger.debug(
        "%s %s -> HTTP %d %s",
        request.method,
        _public_url(request.url),
        response.status_code,
        response.headers.get("content-type", "-"),
    )


def _error_body(response: httpx.Response) -> Any:
    """The server's error body: decoded JSON when it is JSON, else its text, else None."""
    if not response.content:
        return None
    try:
        return jsonlib.loads(response.content)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to decode
        return response.text


def _raise_for_status(request: httpx.Request, response: httpx.Response) -> None:
    """Raise :class:`HttpError` for a status outside 2xx (the body must be read)."""
    if not response.is_success:
        raise HttpError(
            response.status_code, request.method, _public_url(request.url), _error_body(response)
        )


def _check_sse_response(request: httpx.Request, response: httpx.Response) -> None:
    """Refuse a stream that is not a 2xx ``text/event-stream``, before any event."""
    _log_response(request, response)
    _raise_for_status(request, response)
    content_type = response.headers.get("content-type", "")
    # The same test httpx-sse applies, so its own check can never fire after ours.
    if SSE_MEDIA_TYPE not in content_type.partition(";")[0]:
        raise UnexpectedContentType(
            response.status_code, request.method, _public_url(request.url), content_type
        )


@functools.lru_cache(maxsize=256)
def _adapter(model: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(model)


def _read_json(request: httpx.Request, response: httpx.Response, model: Any) -> Any:
    """Decode a step's JSON answer, validated against ``model`` when one is given."""
    _log_response(request, response)
    _raise_for_status(request, response)
    where = f"{request.method} {_public_url(request.url)}"
    value: Any = None
    if response.content:
        try:
            value = jsonlib.loads(response.content)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            content_type = response.headers.get("content-type", "no content type")
            raise ProtocolError(
                f"{where} answered HTTP {response.status_code} with a body that is not "
                f"JSON ({content_type})"
            ) from exc
    if model is None:
        return value
    try:
        return _adapter(model).validate_python(value)
    except pydantic.ValidationError as exc:
        name = getattr(model, "__name__", repr(model))
        raise ProtocolError(
            f"{where} answered a body that does not match {name}: "
            f"{exc.error_count()} error(s), first: {exc.errors()[0]['msg']}"
        ) from exc


def _translate(request: httpx.Request, exc: httpx.RequestError) -> MotiaError:
    """The motia_client exception for an httpx transport failure."""
    where = f"{request.method} {_public_url(request.url)}"
    timeouts = request.extensions.get("timeout", {})
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return MotiaTimeout(
            f"{where}: could not connect within {timeouts.get('connect')} s (connect_timeout)"
        )
    if isinstance(exc, httpx.ReadTimeout):
        return MotiaTimeout(
            f"{where}: the server sent nothing for {timeouts.get('read')} s (the idle timeout)"
        )
    if isinstance(exc, httpx.TimeoutException):
        return MotiaTimeout(f"{where}: {type(exc).__name__}: {detail}")
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(f"{where}: the response body could not be decoded: {detail}")
    if isinstance(exc, httpx.ConnectError):
        return MotiaConnectionError(f"{where}: could not connect: {detail}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return MotiaConnectionError(f"{where}: the connection was lost mid-response: {detail}")
    return MotiaConnectionError(f"{where}: {type(exc).__name__}: {detail}")


class _Translate:
    """Context manager: re-raise httpx request errors as motia_client errors."""

    __slots__ = ("_request",)

    def __init__(self, request: httpx.Request) -> None:
        self._request = request

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, httpx.RequestError):
            raise _translate(self._request, exc) from exc


class _Reader(Protocol[T_co]):
    """Turns raw SSE frames into values; shared by the sync and async drivers."""

    @property
    def finished(self) -> bool:
        """True once the stream's own end marker arrived: stop reading."""

    def feed(self, sse: ServerSentEvent) -> T_co | None:
        """The value for one frame, or None when the frame yields nothing."""

    def end(self, request: httpx.Request) -> None:
        """The server closed the stream: raise if that was too early."""


class _EventReader:
    """``stream_events``: every frame is an :class:`SseEvent`; the stream ends at close."""

    finished = False

    def __init__(self, parse_json: bool) -> None:
        self._parse_json = parse_json

    def feed(self, sse: ServerSentEvent) -> SseEvent:
        return decode_event(sse, parse_json=self._parse_json)

    def end(self, request: httpx.Request) -> None:
        return None


class _ChatReader:
    """``stream_chat``: unnamed frames are chunks up to ``[DONE]``; named events are skipped."""

    def __init__(self) -> None:
        self.finished = False

    def feed(self, sse: ServerSentEvent) -> ChatChunk | None:
        if sse.event != "message":
            return None
        if sse.data.strip() == CHAT_DONE:
            self.finished = True
            return None
        return decode_chat_chunk(sse)

    def end(self, request: httpx.Request) -> None:
        if not self.finished:
            raise MotiaConnectionError(
                f"{request.method} {_public_url(request.url)}: the stream ended before "
                f"{CHAT_DONE}; the text is incomplete"
            )


class _HttpBase:
    """Configuration, repr and request building common to both clients."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,
        connect_timeout: float | None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http:// or https:// URL: {_public_url(url)!r}")
        self._base_url = url
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._headers = dict(headers or {})
        self._has_token = token is not None
        if token is not None:
            _check_token(token)
            self._headers["Authorization"] = f"Bearer {token}"
        self._closed = False

    def _client_options(self) -> dict[str, Any]:
        return {"base_url": self._base_url, "headers": self._headers, "timeout": self._timeout}

    def __repr__(self) -> str:
        token = "'***'" if self._has_token else "None"
        return f"{type(self).__name__}({_public_url(self._base_url)!r}, token={token})"

    def _request(
        self,
        client: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        *,
        json: Any,
        data: FormData | None,
        params: QueryParams | None,
        headers: Mapping[str, str] | None,
        sse: bool,
    ) -> httpx.Request:
        if self._closed:
            raise ClientClosedError(f"{type(self).__name__} was used after close()")
        return _build_request(
            client, method, path, json=json, data=data, params=params, headers=headers, sse=sse
        )
