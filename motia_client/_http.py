"""MotiaHttp and AsyncMotiaHttp: Motia HTTP steps and SSE streams, sync and async.

Thin I/O drivers over ``_http_core``, where the options are defined once
(``HttpOptions``, ``RequestOptions``, ``StreamOptions``) and every request is
built and every answer read (``_Exchange``). Each public method is one line
that builds its exchange there; ``_drive`` sends it and moves body chunks in
and values out: the only code that differs between the two clients.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from types import TracebackType

import httpx
from typing_extensions import Unpack

from motia_client._http_core import (
    ModelT,
    RequestOptions,
    StreamOptions,
    T,
    _ClientSettings,
    _Exchange,
    _HttpBase,
)
from motia_client.sse import ChatChunk, SseEvent

__all__ = ["AsyncMotiaHttp", "MotiaHttp"]


class MotiaHttp(_HttpBase[httpx.Client, httpx.BaseTransport]):
    """Blocking client for Motia HTTP steps and their Server-Sent Event streams.

    ``MotiaHttp(base_url, *, token=None, headers=None, timeout=30.0,
    connect_timeout=10.0, max_error_body=1 MiB, transport=None)``.
    ``base_url`` is the app's HTTP address (``http://localhost:3000``); paths
    passed to the methods are joined to it. ``token`` is sent as
    ``Authorization: Bearer <token>`` and never shown. ``timeout`` is the idle
    read timeout in seconds: the longest silence allowed between two reads, so a
    stream that keeps sending is never cut; ``connect_timeout`` bounds opening
    the connection. ``None`` disables either. ``max_error_body`` bounds how much
    of an error answer is read (see :class:`HttpError`). ``transport`` replaces
    the httpx transport (``httpx.MockTransport`` in tests).

    Every method takes the request options ``json=``, ``data=``, ``params=`` and
    ``headers=``; the streaming ones also ``max_line=`` and ``max_event_size=``
    (bytes; :class:`~motia_client.sse.EventTooLarge` past them).
    """

    def _open(
        self, transport: httpx.BaseTransport | None, settings: _ClientSettings
    ) -> httpx.Client:
        return httpx.Client(transport=transport, **settings)

    def call(
        self,
        method: str,
        path: str,
        *,
        response_model: type[ModelT] | None = None,
        **options: Unpack[RequestOptions],
    ) -> ModelT:
        """Call a step and return its decoded JSON answer (``None`` for an empty body).

        With ``response_model`` (a pydantic model or any type pydantic validates,
        such as ``list[Todo]``) the answer is validated into it. A status outside
        2xx raises :class:`HttpError`; a body that is not JSON or does not match
        the model raises :class:`ProtocolError`.
        """
        (value,) = self._drive(self._call(method, path, response_model, options))
        return value

    def stream_events(
        self, method: str, path: str, *, parse_json: bool = True, **options: Unpack[StreamOptions]
    ) -> Generator[SseEvent, None, None]:
        """Iterate a step's Server-Sent Events until the server closes the stream.

        Raises :class:`HttpError` or :class:`UnexpectedContentType` before the
        first event when the answer is not a 2xx ``text/event-stream``, and
        :class:`EventDataError` for data that is not JSON (unless
        ``parse_json=False``). Leaving the loop early closes the connection.
        """
        return self._drive(self._events(method, path, parse_json, options))

    def stream_chat(
        self, method: str, path: str, **options: Unpack[StreamOptions]
    ) -> Generator[ChatChunk, None, None]:
        """Iterate an OpenAI-style token stream up to its ``[DONE]`` sentinel.

        A stream that closes before ``[DONE]`` raises
        :class:`MotiaConnectionError` after its last chunk.
        """
        return self._drive(self._chat(method, path, options))

    def chat_text(self, method: str, path: str, **options: Unpack[StreamOptions]) -> str:
        """The whole text of an OpenAI-style token stream, joined."""
        return "".join(chunk.content for chunk in self.stream_chat(method, path, **options))

    def close(self) -> None:
        """Close every connection; later calls raise :class:`ClientClosedError`."""
        self._closed = True
        self._client.close()

    def __enter__(self) -> MotiaHttp:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _drive(self, exchange: _Exchange[T]) -> Generator[T, None, None]:
        """Send the exchange's request and feed it the body: the blocking I/O."""
        with exchange.translating():
            response = self._client.send(exchange.request, stream=True)
            try:
                exchange.start(response)
                for chunk in response.iter_bytes():
                    yield from exchange.feed(chunk)
                    if exchange.done:
                        break
                yield from exchange.end()
            finally:
                response.close()


class AsyncMotiaHttp(_HttpBase[httpx.AsyncClient, httpx.AsyncBaseTransport]):
    """The asyncio twin of :class:`MotiaHttp`: same arguments, same behaviour.

    ``call``, ``chat_text`` and ``close`` are coroutines; ``stream_events`` and
    ``stream_chat`` return async generators. Breaking out of ``async for``
    closes the connection once the generator is finalized (the next loop
    iteration); wrap the generator in ``contextlib.aclosing`` to close it at
    once. ``transport`` takes an ``httpx.AsyncBaseTransport``.
    """

    def _open(
        self, transport: httpx.AsyncBaseTransport | None, settings: _ClientSettings
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, **settings)

    async def call(
        self,
        method: str,
        path: str,
        *,
        response_model: type[ModelT] | None = None,
        **options: Unpack[RequestOptions],
    ) -> ModelT:
        """See :meth:`MotiaHttp.call`."""
        values = [v async for v in self._drive(self._call(method, path, response_model, options))]
        return values[0]

    def stream_events(
        self, method: str, path: str, *, parse_json: bool = True, **options: Unpack[StreamOptions]
    ) -> AsyncGenerator[SseEvent, None]:
        """See :meth:`MotiaHttp.stream_events`; use with ``async for``."""
        return self._drive(self._events(method, path, parse_json, options))

    def stream_chat(
        self, method: str, path: str, **options: Unpack[StreamOptions]
    ) -> AsyncGenerator[ChatChunk, None]:
        """See :meth:`MotiaHttp.stream_chat`; use with ``async for``."""
        return self._drive(self._chat(method, path, options))

    async def chat_text(self, method: str, path: str, **options: Unpack[StreamOptions]) -> str:
        """See :meth:`MotiaHttp.chat_text`."""
        return "".join([chunk.content async for chunk in self.stream_chat(method, path, **options)])

    async def close(self) -> None:
        """Close every connection; later calls raise :class:`ClientClosedError`."""
        self._closed = True
        await self._client.aclose()

    async def __aenter__(self) -> AsyncMotiaHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _drive(self, exchange: _Exchange[T]) -> AsyncGenerator[T, None]:
        """Send the exchange's request and feed it the body: the asyncio I/O."""
        with exchange.translating():
            response = await self._client.send(exchange.request, stream=True)
            try:
                exchange.start(response)
                async for chunk in response.aiter_bytes():
                    for value in exchange.feed(chunk):
                        yield value
                    if exchange.done:
                        break
                for value in exchange.end():
                    yield value
            finally:
                await response.aclose()
