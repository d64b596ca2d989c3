"""MotiaHttp and AsyncMotiaHttp: Motia HTTP steps and SSE streams, sync and async.

Thin drivers over the shared pure part in ``_http_core``: each method builds
its request there, sends it (the only line that differs between the two
clients) and hands the response back to the shared checks and readers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping
from contextlib import aclosing
from types import TracebackType
from typing import Any, overload

import httpx
from httpx_sse import EventSource

from motia_client._http_core import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    FormData,
    QueryParams,
    T,
    _ChatReader,
    _check_sse_response,
    _EventReader,
    _HttpBase,
    _read_json,
    _Reader,
    _Translate,
)
from motia_client.sse import ChatChunk, SseEvent

__all__ = ["AsyncMotiaHttp", "MotiaHttp"]


# ---------------------------------------------------------------- the clients


class MotiaHttp(_HttpBase):
    """Blocking client for Motia HTTP steps and their Server-Sent Event streams.

    ``base_url`` is the app's HTTP address (``http://localhost:3000``); paths
    passed to the methods are joined to it. ``token`` is sent as
    ``Authorization: Bearer <token>`` and never shown. ``timeout`` is the idle
    read timeout in seconds: the longest silence allowed between two reads, so a
    stream that keeps sending is never cut; ``connect_timeout`` bounds opening
    the connection. ``None`` disables either. ``transport`` replaces the httpx
    transport (``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token=token,
            headers=headers,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )
        self._client = httpx.Client(**self._client_options(), transport=transport)

    @overload
    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        response_model: type[T],
    ) -> T: ...

    @overload
    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        response_model: None = None,
    ) -> Any: ...

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        response_model: type[T] | None = None,
    ) -> Any:
        """Call a step and return its decoded JSON answer (``None`` for an empty body).

        With ``response_model`` (a pydantic model or any type pydantic validates,
        such as ``list[Todo]``) the answer is validated into it. A status outside
        2xx raises :class:`HttpError`; a body that is not JSON or does not match
        the model raises :class:`ProtocolError`.
        """
        request = self._request(
            self._client,
            method,
            path,
            json=json,
            data=data,
            params=params,
            headers=headers,
            sse=False,
        )
        with _Translate(request):
            response = self._client.send(request)
        return _read_json(request, response, response_model)

    def stream_events(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        parse_json: bool = True,
    ) -> Generator[SseEvent, None, None]:
        """Iterate a step's Server-Sent Events until the server closes the stream.

        Raises :class:`HttpError` or :class:`UnexpectedContentType` before the
        first event when the answer is not a 2xx ``text/event-stream``, and
        :class:`EventDataError` for data that is not JSON (unless
        ``parse_json=False``). Leaving the loop early closes the connection.
        """
        request = self._request(
            self._client,
            method,
            path,
            json=json,
            data=data,
            params=params,
            headers=headers,
            sse=True,
        )
        return self._stream(request, _EventReader(parse_json))

    def stream_chat(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Generator[ChatChunk, None, None]:
        """Iterate an OpenAI-style token stream up to its ``[DONE]`` sentinel.

        A stream that closes before ``[DONE]`` raises
        :class:`MotiaConnectionError` after its last chunk.
        """
        request = self._request(
            self._client,
            method,
            path,
            json=json,
            data=data,
            params=params,
            headers=headers,
            sse=True,
        )
        return self._stream(request, _ChatReader())

    def chat_text(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """The whole text of an OpenAI-style token stream, joined."""
        chunks = self.stream_chat(
            method, path, json=json, data=data, params=params, headers=headers
        )
        return "".join(chunk.content for chunk in chunks)

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

    def _stream(self, request: httpx.Request, reader: _Reader[T]) -> Generator[T, None, None]:
        with _Translate(request):
            response = self._client.send(request, stream=True)
            try:
                if not response.is_success:
                    response.read()
                _check_sse_response(request, response)
                for sse in EventSource(response).iter_sse():
                    value = reader.feed(sse)
                    if value is not None:
                        yield value
                    if reader.finished:
                        return
                reader.end(request)
            finally:
                response.close()


class AsyncMotiaHttp(_HttpBase):
    """The asyncio twin of :class:`MotiaHttp`: same arguments, same behaviour.

    ``call``, ``chat_text`` and ``close`` are coroutines; ``stream_events`` and
    ``stream_chat`` return async generators. Breaking out of ``async for``
    closes the connection once the generator is finalized (the next loop
    iteration); wrap the generator in ``contextlib.aclosing`` to close it at
    once. ``transport`` takes an ``httpx.AsyncBaseTransport``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token=token,
            headers=headers,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )
        self._client = httpx.AsyncClient(**self._client_options(), transport=transport)

    @overload
    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        response_model: type[T],
    ) -> T: ...

    @overload
    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        response_model: None = None,
    ) -> Any: ...

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        response_model: type[T] | None = None,
    ) -> Any:
        """See :meth:`MotiaHttp.call`."""
        request = self._request(
            self._client,
            method,
            path,
            json=json,
            data=data,
            params=params,
            headers=headers,
            sse=False,
        )
        with _Translate(request):
            response = await self._client.send(request)
        return _read_json(request, response, response_model)

    def stream_events(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        parse_json: bool = True,
    ) -> AsyncGenerator[SseEvent, None]:
        """See :meth:`MotiaHttp.stream_events`; use with ``async for``."""
        request = self._request(
            self._client,
            method,
            path,
            json=json,
            data=data,
            params=params,
            headers=headers,
            sse=True,
        )
        return self._stream(request, _EventReader(parse_json))

    def stream_chat(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[ChatChunk, None]:
        """See :meth:`MotiaHttp.stream_chat`; use with ``async for``."""
        request = self._request(
            self._client,
            method,
            path,
            json=json,
            data=data,
            params=params,
            headers=headers,
            sse=True,
        )
        return self._stream(request, _ChatReader())

    async def chat_text(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: FormData | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """See :meth:`MotiaHttp.chat_text`."""
        chunks = self.stream_chat(
            method, path, json=json, data=data, params=params, headers=headers
        )
        return "".join([chunk.content async for chunk in chunks])

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

    async def _stream(self, request: httpx.Request, reader: _Reader[T]) -> AsyncGenerator[T, None]:
        with _Translate(request):
            response = await self._client.send(request, stream=True)
            try:
                if not response.is_success:
                    await response.aread()
                _check_sse_response(request, response)
                async with aclosing(EventSource(response).aiter_sse()) as frames:
                    async for sse in frames:
                        value = reader.feed(sse)
                        if value is not None:
                            yield value
                        if reader.finished:
                            return
                reader.end(request)
            finally:
                await response.aclose()
