"""The shared, sans-I/O part of the HTTP side: options, request building, answer reading.

:class:`~motia_client.MotiaHttp` and :class:`~motia_client.AsyncMotiaHttp`
(``_http``) only move bytes. Everything that decides something lives here, once,
for both. One request is one :class:`_Exchange`, driven the same way by each::

    exchange = client._exchange(...)        build: options checked, request made
    response = send(exchange.request)       I/O (in _http), streamed
    exchange.start(response)                status and content type checked
    for chunk in body: exchange.feed(chunk) decode: yields values; stop once .done
    exchange.end()                          the body ended: last values, or raise

Nothing here holds more than a bounded amount of a hostile answer: an error
body is read up to ``max_error_body`` bytes and its message shows the first
:data:`ERROR_MESSAGE_BODY` characters; SSE bodies go through the bounded
:class:`~motia_client.sse.SseDecoder`. (A successful ``call`` answer is read
whole: it is the value asked for.)

Every httpx exception is translated at the boundary by :func:`_translating`
(``raise ... from exc``). Messages show URLs through :func:`_auth.redact_url`
(no query string or user info); the token only ever travels in the
``Authorization`` header, checked by :func:`_auth.check_token`.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import json as jsonlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Generic, Protocol, TypedDict

import httpx
import pydantic
from typing_extensions import TypeVar, Unpack

from motia_client._auth import check_token, redact_url
from motia_client._exceptions import (
    ClientClosedError,
    HttpError,
    MotiaConnectionError,
    MotiaError,
    MotiaTimeout,
    ProtocolError,
    UnexpectedContentType,
)
from motia_client.sse import (
    CHAT_DONE,
    DEFAULT_MAX_EVENT_SIZE,
    DEFAULT_MAX_LINE,
    ChatChunk,
    SseDecoder,
    SseEvent,
    decode_chat_chunk,
    decode_event,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_ERROR_BODY",
    "DEFAULT_TIMEOUT",
    "ERROR_MESSAGE_BODY",
    "FormData",
    "HttpOptions",
    "ModelT",
    "QueryParams",
    "RequestOptions",
    "StreamOptions",
    "T",
    "_ClientSettings",
    "_Exchange",
    "_HttpBase",
]

logger = logging.getLogger("motia_client.http")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
ModelT = TypeVar("ModelT", default=Any)
"""``call``'s answer: the type of ``response_model``, or Any without one (PEP 696)."""
ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)

Primitive = str | int | float | bool
FormData = Mapping[str, Primitive]
QueryParams = Mapping[str, Primitive]

SSE_MEDIA_TYPE = "text/event-stream"
JSON_MEDIA_TYPE = "application/json"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_ERROR_BODY = 1024 * 1024
"""Default ``max_error_body``: the most of an error body read and kept, in bytes (1 MiB)."""
ERROR_MESSAGE_BODY = 4096
"""How many characters of the error body an :class:`HttpError` message shows (4 KiB)."""


# ------------------------------------------------------------------ options


class HttpOptions(TypedDict, total=False):
    """The keyword options of ``MotiaHttp(...)`` and ``AsyncMotiaHttp(...)``.

    ``token`` (default None) is sent as ``Authorization: Bearer <token>``;
    ``headers`` go with every request; ``timeout`` (30.0) is the idle read
    timeout in seconds and ``connect_timeout`` (10.0) bounds opening a
    connection, ``None`` disabling either; ``max_error_body`` (1 MiB) is how
    much of an error answer's body is read and kept on :class:`HttpError`.
    """

    token: str | None
    headers: Mapping[str, str] | None
    timeout: float | None
    connect_timeout: float | None
    max_error_body: int


class RequestOptions(TypedDict, total=False):
    """What one request sends, for every method: a JSON or a form body, query, headers."""

    json: Any
    data: FormData | None
    params: QueryParams | None
    headers: Mapping[str, str] | None


class StreamOptions(RequestOptions, total=False):
    """A request's options plus the SSE reader's bounds (see :class:`SseDecoder`)."""

    max_line: int
    max_event_size: int


def _check_names(options: Mapping[str, object], allowed: type[Any], where: str) -> None:
    """Refuse an unknown keyword at run time, as a plain signature would (a typo is no option)."""
    unknown = sorted(set(options) - allowed.__required_keys__ - allowed.__optional_keys__)
    if unknown:
        raise TypeError(f"{where}() got an unexpected keyword argument {unknown[0]!r}")


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive number of bytes, not {value!r}")
    return value


# ------------------------------------------------------------------ pieces


def _where(request: httpx.Request) -> str:
    return f"{request.method} {redact_url(request.url)}"


@functools.lru_cache(maxsize=256)
def _adapter(model: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(model)


def _json_or_text(body: bytes, charset: str | None) -> Any:
    """An error body: decoded JSON when it is JSON, else its text, else None."""
    if not body:
        return None
    try:
        return jsonlib.loads(body)
    except (ValueError, RecursionError):  # not JSON (or cut short), or nested too deeply
        pass
    try:
        return body.decode(charset or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", "replace")


def _http_error(
    request: httpx.Request, response: httpx.Response, body: bytes, limit: int
) -> HttpError:
    """The :class:`HttpError` for an error answer, its message bounded whatever the body.

    ``body`` holds at most ``limit + 1`` bytes: one past the limit says there was more.
    """
    cut = len(body) > limit
    value = _json_or_text(body[:limit], response.charset_encoding)
    shown = repr(value)
    if len(shown) > ERROR_MESSAGE_BODY:
        more = len(shown) - ERROR_MESSAGE_BODY
        shown = f"{shown[:ERROR_MESSAGE_BODY]}... ({more} more characters in .body)"
    if cut:
        total = response.headers.get("content-length", "more")
        shown += f" [the body ({total} bytes) was cut at max_error_body={limit} bytes]"
    message = f"{_where(request)} answered HTTP {response.status_code}: {shown}"
    return HttpError(
        response.status_code, request.method, redact_url(request.url), value, message=message
    )


def _translate(request: httpx.Request, exc: httpx.RequestError) -> MotiaError:
    """The motia_client exception for an httpx transport failure."""
    where = _where(request)
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


@contextlib.contextmanager
def _translating(request: httpx.Request) -> Iterator[None]:
    """Run the block's I/O with httpx request errors re-raised as motia_client errors."""
    try:
        yield
    except httpx.RequestError as exc:
        raise _translate(request, exc) from exc


# ------------------------------------------------------------------ readers


class _Reader(Protocol[T_co]):
    """Turns a 2xx answer's body into values; one per kind of method."""

    @property
    def finished(self) -> bool:
        """True once the body's own end marker arrived: stop reading."""

    def check(self, request: httpx.Request, response: httpx.Response) -> None:
        """Refuse the answer before its body, when its head is not what the method reads."""

    def feed(self, chunk: bytes) -> Iterator[T_co]:
        """The values a chunk of the body completes, lazily (the ones before an error count)."""

    def end(self, request: httpx.Request) -> Iterator[T_co]:
        """The body ended: the last values, or raise if it ended too early."""


class _JsonReader(Generic[ModelT]):
    """``call``: the whole body, decoded as JSON and validated when a model is given."""

    finished = False

    def __init__(self, model: type[ModelT] | None) -> None:
        self._model: Any = model  # a type, or any form pydantic validates (list[Todo])
        self._body = bytearray()
        self._content_type = "no content type"
        self._status = 0

    def check(self, request: httpx.Request, response: httpx.Response) -> None:
        self._content_type = response.headers.get("content-type", self._content_type)
        self._status = response.status_code

    def feed(self, chunk: bytes) -> Iterator[ModelT]:
        self._body += chunk
        return iter(())

    def end(self, request: httpx.Request) -> Iterator[ModelT]:
        value: Any = None
        if self._body:
            try:
                value = jsonlib.loads(self._body)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
                raise ProtocolError(
                    f"{_where(request)} answered HTTP {self._status} with a body that is not "
                    f"JSON ({self._content_type})"
                ) from exc
        if self._model is None:
            yield value
            return
        try:
            yield _adapter(self._model).validate_python(value)
        except pydantic.ValidationError as exc:
            name = getattr(self._model, "__name__", repr(self._model))
            raise ProtocolError(
                f"{_where(request)} answered a body that does not match {name}: "
                f"{exc.error_count()} error(s), first: {exc.errors()[0]['msg']}"
            ) from exc


class _SseReader:
    """Shared by the SSE methods: a 2xx ``text/event-stream`` read by a bounded decoder."""

    def __init__(self, options: StreamOptions) -> None:
        self.finished = False
        self._decoder = SseDecoder(
            max_line=options.get("max_line", DEFAULT_MAX_LINE),
            max_event_size=options.get("max_event_size", DEFAULT_MAX_EVENT_SIZE),
        )

    def check(self, request: httpx.Request, response: httpx.Response) -> None:
        content_type = response.headers.get("content-type", "")
        # httpx-sse's own test, so a stream it would refuse is refused here too.
        if SSE_MEDIA_TYPE not in content_type.partition(";")[0]:
            raise UnexpectedContentType(
                response.status_code, request.method, redact_url(request.url), content_type
            )

    def _frames(self, chunk: bytes) -> Iterator[Any]:
        self._decoder.feed(chunk)
        while not self.finished and (sse := self._decoder.next_event()) is not None:
            yield sse

    def end(self, request: httpx.Request) -> Iterator[Any]:
        return iter(())


class _EventReader(_SseReader):
    """``stream_events``: every frame is an :class:`SseEvent`; the stream ends at close."""

    def __init__(self, options: StreamOptions, parse_json: bool) -> None:
        super().__init__(options)
        self._parse_json = parse_json

    def feed(self, chunk: bytes) -> Iterator[SseEvent]:
        for sse in self._frames(chunk):
            yield decode_event(sse, parse_json=self._parse_json)


class _ChatReader(_SseReader):
    """``stream_chat``: unnamed frames are chunks up to ``[DONE]``; named events are skipped."""

    def feed(self, chunk: bytes) -> Iterator[ChatChunk]:
        for sse in self._frames(chunk):
            if sse.event != "message":
                continue
            if sse.data.strip() == CHAT_DONE:
                self.finished = True
                return
            yield decode_chat_chunk(sse)

    def end(self, request: httpx.Request) -> Iterator[ChatChunk]:
        if not self.finished:
            raise MotiaConnectionError(
                f"{_where(request)}: the stream ended before {CHAT_DONE}; the text is incomplete"
            )
        return iter(())


# ------------------------------------------------------------------ one exchange


class _Exchange(Generic[T]):
    """One request and the reading of its answer, without I/O.

    The driver sends :attr:`request` (streamed), calls :meth:`start` with the
    response, :meth:`feed` with each body chunk while :attr:`done` is false,
    and :meth:`end` when the body ended or :attr:`done` became true; it yields
    what ``feed`` and ``end`` yield and closes the response whatever happens.
    An error status reads at most ``max_error_body`` bytes, then ``end``
    raises :class:`HttpError`.
    """

    __slots__ = ("_error_body", "_max_error_body", "_reader", "_response", "request")

    def __init__(self, request: httpx.Request, reader: _Reader[T], max_error_body: int) -> None:
        self.request = request
        self._reader = reader
        self._max_error_body = max_error_body
        self._error_body: bytearray | None = None
        self._response: httpx.Response | None = None

    def translating(self) -> contextlib.AbstractContextManager[None]:
        """The context to run the I/O in: httpx errors become motia_client errors."""
        return _translating(self.request)

    def start(self, response: httpx.Response) -> None:
        """The answer's head arrived: log it, and refuse a head the method cannot read."""
        logger.debug(
            "%s -> HTTP %d %s",
            _where(self.request),
            response.status_code,
            response.headers.get("content-type", "-"),
        )
        self._response = response
        if response.is_success:
            self._reader.check(self.request, response)
        else:
            self._error_body = bytearray()

    @property
    def done(self) -> bool:
        """True when reading more of the body is useless: stop and call :meth:`end`."""
        if self._error_body is not None:
            return len(self._error_body) > self._max_error_body
        return self._reader.finished

    def feed(self, chunk: bytes) -> Iterator[T]:
        """The values this chunk of the body completes."""
        if self._error_body is None:
            return self._reader.feed(chunk)
        self._error_body += chunk[: self._max_error_body + 1 - len(self._error_body)]
        return iter(())

    def end(self) -> Iterator[T]:
        """The body is over (or no longer needed): the last values, or the error."""
        if self._error_body is not None:
            assert self._response is not None
            raise _http_error(
                self.request, self._response, bytes(self._error_body), self._max_error_body
            )
        return self._reader.end(self.request)


# ------------------------------------------------------------------ the common base


class _ClientSettings(TypedDict):
    """What both clients pass to their httpx client, besides the transport."""

    base_url: httpx.URL
    headers: dict[str, str]
    timeout: httpx.Timeout


class _HttpBase(abc.ABC, Generic[ClientT, TransportT]):
    """Configuration, repr and request building common to both clients.

    The two subclasses only say how to open their httpx client (:meth:`_open`)
    and how to drive an :class:`_Exchange` over it.
    """

    _client: ClientT

    def __init__(
        self,
        base_url: str,
        *,
        transport: TransportT | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        _check_names(options, HttpOptions, type(self).__name__)
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http:// or https:// URL: {redact_url(url)!r}")
        self._base_url = url
        self._max_error_body = _positive(
            "max_error_body", options.get("max_error_body", DEFAULT_MAX_ERROR_BODY)
        )
        headers = dict(options.get("headers") or {})
        token = options.get("token")
        self._has_token = token is not None
        if token is not None:
            check_token(token, "header")
            headers["Authorization"] = f"Bearer {token}"
        timeout = httpx.Timeout(
            options.get("timeout", DEFAULT_TIMEOUT),
            connect=options.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        )
        self._closed = False
        self._client = self._open(
            transport, {"base_url": url, "headers": headers, "timeout": timeout}
        )

    @abc.abstractmethod
    def _open(self, transport: TransportT | None, settings: _ClientSettings) -> ClientT:
        """Open the httpx client (``httpx.Client`` or ``httpx.AsyncClient``) this class drives."""

    def __repr__(self) -> str:
        token = "'***'" if self._has_token else "None"
        return f"{type(self).__name__}({redact_url(self._base_url)!r}, token={token})"

    def _exchange(
        self,
        method: str,
        path: str,
        reader: _Reader[T],
        options: RequestOptions,
        *,
        sse: bool,
    ) -> _Exchange[T]:
        """Build one request (a JSON or a form body, the Accept header for its shape)."""
        if self._closed:
            raise ClientClosedError(f"{type(self).__name__} was used after close()")
        json, data = options.get("json"), options.get("data")
        if json is not None and data is not None:
            raise ValueError("pass a JSON body (json=) or a form body (data=), not both")
        headers = {"Accept": SSE_MEDIA_TYPE if sse else JSON_MEDIA_TYPE}
        if sse:
            headers["Cache-Control"] = "no-store"
        headers.update(options.get("headers") or {})
        request = self._client.build_request(
            method.upper(),
            path,
            json=json,
            data=data,
            params=options.get("params"),
            headers=headers,
        )
        return _Exchange(request, reader, self._max_error_body)

    def _call(
        self, method: str, path: str, model: type[ModelT] | None, options: RequestOptions
    ) -> _Exchange[ModelT]:
        """The exchange of ``call``: one JSON value, validated into ``model`` if given."""
        _check_names(options, RequestOptions, "call")
        return self._exchange(method, path, _JsonReader(model), options, sse=False)

    def _events(
        self, method: str, path: str, parse_json: bool, options: StreamOptions
    ) -> _Exchange[SseEvent]:
        """The exchange of ``stream_events``."""
        _check_names(options, StreamOptions, "stream_events")
        reader = _EventReader(options, parse_json)
        return self._exchange(method, path, reader, options, sse=True)

    def _chat(self, method: str, path: str, options: StreamOptions) -> _Exchange[ChatChunk]:
        """The exchange of ``stream_chat`` and ``chat_text``."""
        _check_names(options, StreamOptions, "stream_chat")
        return self._exchange(method, path, _ChatReader(options), options, sse=True)
