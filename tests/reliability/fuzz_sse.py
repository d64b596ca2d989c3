"""Hostile Server-Sent Event streams for ``motia_client.sse`` and the HTTP clients.

``SSE_EVENTS`` are single events as httpx-sse hands them over; ``SSE_RESPONSES``
are whole responses (status, content type, the body split into chunks) that
:func:`sse_stream_is_handled` feeds to :class:`~motia_client.MotiaHttp` and
:class:`~motia_client.AsyncMotiaHttp` through ``httpx.MockTransport``. Whatever
arrives, the only exceptions a caller may see are :class:`~motia_client.MotiaError`,
with the default limits and with tight ``max_line``/``max_event_size``/``max_error_body``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent
from hypothesis import strategies as st

from motia_client import AsyncMotiaHttp, MotiaError, MotiaHttp
from motia_client.sse import decode_chat_chunk, decode_event
from tests.reliability.fuzzing import JSON

__all__ = ["SSE_EVENTS", "SSE_RESPONSES", "sse_event_is_handled", "sse_stream_is_handled"]

_DATA = st.one_of(
    st.text(max_size=40),
    JSON.map(json.dumps),
    st.sampled_from(["[DONE]", " [DONE] ", "", "null", '{"content": 5}', '{"choices": [{}]}']),
    st.sampled_from(['{"choices": [{"delta": {"content": "hi"}}]}', '{"content": "x"}']),
    st.integers(900, 3000).map(lambda d: "[" * d + "]" * d),
    st.just("9" * 5000),  # longer than Python's int conversion limit
)
SSE_EVENTS = st.builds(
    ServerSentEvent,
    event=st.sampled_from(["message", "item", "done", ""]) | st.text(max_size=10),
    data=_DATA,
    id=st.text(max_size=10),
    retry=st.none() | st.integers(min_value=-(2**70), max_value=2**70),
)


def sse_event_is_handled(sse: ServerSentEvent) -> None:
    """Both decoders return a value or raise a MotiaError, nothing else."""
    for decode in (decode_event, decode_chat_chunk, lambda e: decode_event(e, parse_json=False)):
        with contextlib.suppress(MotiaError):
            decode(sse)


_FIELD = st.sampled_from(["data", "event", "id", "retry", "", "dat", "DATA", "data "])
_LINE = st.one_of(
    st.tuples(_FIELD, st.sampled_from([":", ": ", ":  "]), _DATA).map("".join),
    st.text(max_size=30).map(lambda t: ":" + t),  # a comment
    st.text(max_size=30),
)
_NEWLINE = st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\r\r"])
_SSE_TEXT = st.lists(st.tuples(_LINE, _NEWLINE).map("".join), max_size=12).map("".join)
_BODIES = st.one_of(
    _SSE_TEXT.map(str.encode),
    _SSE_TEXT.map(lambda t: "\ufeff" + t).map(str.encode),
    st.binary(max_size=200),
    _SSE_TEXT.map(lambda t: t.encode("utf-16")),
)


def _split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    bounds = [0, *points, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds) if b > a]


SSE_RESPONSES = st.tuples(
    st.sampled_from([200, 200, 200, 204, 400, 500]),
    st.sampled_from(
        [
            "text/event-stream",
            "text/event-stream; charset=utf-8",
            "text/event-stream; charset=latin-1",
            "application/json",
            "",
        ]
    ),
    st.tuples(_BODIES, st.lists(st.integers(0, 10_000), max_size=6)).map(lambda b: _split(*b)),
)
"""(status, content type, body chunks): whole SSE responses, well-formed or not."""


class _Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


_TIGHT: dict[str, Any] = {"max_line": 16, "max_event_size": 24}
"""Limits small enough that the fuzzed bodies cross them, so the refusal paths are fuzzed too."""


def sse_stream_is_handled(response: tuple[int, str, list[bytes]]) -> int:
    """Read the response with every SSE method of both clients, with the default limits
    and with tight ones (``max_error_body`` too); return how many values came."""
    status, content_type, chunks = response

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": content_type} if content_type else {}
        return httpx.Response(status, headers=headers, stream=_Chunks(chunks))

    values = 0
    for limits, error_body in (({}, {}), (_TIGHT, {"max_error_body": 8})):
        values += _read_sync(answer, limits, error_body)
        values += asyncio.run(_read_async(answer, limits, error_body))
    return values


def _read_sync(answer: Any, limits: dict[str, Any], error_body: dict[str, Any]) -> int:
    count = 0
    transport = httpx.MockTransport(answer)
    with MotiaHttp("http://127.0.0.1:9", transport=transport, **error_body) as http:
        readers: list[Any] = [
            lambda: http.stream_events("POST", "/sse", **limits),
            lambda: http.stream_events("POST", "/sse", parse_json=False, **limits),
            lambda: http.stream_chat("POST", "/chat", **limits),
            lambda: [http.chat_text("POST", "/chat", **limits)],
            lambda: [http.call("POST", "/call")],
        ]
        for read in readers:
            with contextlib.suppress(MotiaError):
                count += sum(1 for _ in read())
    return count


async def _read_async(answer: Any, limits: dict[str, Any], error_body: dict[str, Any]) -> int:
    count = 0
    async with AsyncMotiaHttp(
        "http://127.0.0.1:9", transport=httpx.MockTransport(answer), **error_body
    ) as http:
        for stream in (
            lambda: http.stream_events("POST", "/sse", **limits),
            lambda: http.stream_chat("POST", "/chat", **limits),
        ):
            with contextlib.suppress(MotiaError):
                count += len([value async for value in stream()])
        with contextlib.suppress(MotiaError):
            await http.chat_text("POST", "/chat", **limits)
        with contextlib.suppress(MotiaError):
            await http.call("POST", "/call")
    return count
