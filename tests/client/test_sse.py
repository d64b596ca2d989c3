"""motia_client.sse: typed SSE values, their pure decoders, and wire-format parsing.

The wire tests feed exact bytes through ``httpx.MockTransport`` in chosen
pieces, so splits, CRLF, comments and keep-alive lines are covered on both
clients without a socket (the socket versions live in test_http.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import types
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent
from hypothesis import given, settings
from hypothesis import strategies as st

import motia_client.sse as sse_module
from motia_client import AsyncMotiaHttp, EventDataError, MotiaConnectionError, MotiaHttp
from motia_client import ProtocolError as MotiaProtocolError
from motia_client.sse import (
    CHAT_DONE,
    ChatChunk,
    EventTooLarge,
    SseDecoder,
    SseEvent,
    decode_chat_chunk,
    decode_event,
)
from tests.client.test_http_harness import FLAVORS, Chunks, Driver

BASE = "http://motia.test"

SEED_SSE = (
    b'event: item\ndata: {"id": "item-1", "label": "swift falcon", "score": 7}\n\n'
    b'event: item\ndata: {"id": "item-2", "label": "calm river", "score": 42}\n\n'
    b'event: done\ndata: {"total": 2}\n\n'
)
SEED_EVENTS = [
    SseEvent("item", {"id": "item-1", "label": "swift falcon", "score": 7}),
    SseEvent("item", {"id": "item-2", "label": "calm river", "score": 42}),
    SseEvent("done", {"total": 2}),
]
SEED_CHAT = (
    b'data: {"content": "Hel"}\n\n'
    b'data: {"content": "lo, "}\n\n'
    b'data: {"content": "w\xc3\xb6rld"}\n\n'
    b"data: [DONE]\n\n"
)


def sse_transport(pieces: list[bytes], content_type: str = "text/event-stream") -> Any:
    """A MockTransport answering every request with ``pieces`` as the streamed body."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, stream=Chunks(pieces))

    return httpx.MockTransport(handler)


def split_at(body: bytes, cuts: list[int]) -> list[bytes]:
    """``body`` cut at the given offsets (deduplicated, in order), no empty pieces."""
    points = sorted({c for c in cuts if 0 < c < len(body)})
    edges = [0, *points, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]


# ------------------------------------------------------------------ pure values


def test_sse_event_and_chat_chunk_are_frozen() -> None:
    """Events are values: they can be shared between consumers without copying."""
    event = SseEvent("item", {"a": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.event = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ChatChunk("x", {}).content = "y"  # type: ignore[misc]


def test_module_all_names_exactly_its_public_names() -> None:
    """motia_client.sse is public: __all__ is complete (ruff's RUF022 keeps it sorted)."""
    here = sse_module.__name__
    public = {
        name
        for name, value in vars(sse_module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", here) == here
    }
    assert set(sse_module.__all__) == public
    assert len(sse_module.__all__) == len(public)


def test_decode_event_decodes_json_and_keeps_fields() -> None:
    raw = ServerSentEvent(event="item", data='{"id": "a"}', id="7", retry=1500)
    assert decode_event(raw) == SseEvent("item", {"id": "a"}, id="7", retry=1500)


def test_decode_event_defaults() -> None:
    """No event name reads as "message", no id as None, no data as None."""
    assert decode_event(ServerSentEvent(data="3")) == SseEvent("message", 3, None, None)
    assert decode_event(ServerSentEvent(event="ping")) == SseEvent("ping", None)


def test_decode_event_raises_naming_the_event_for_data_that_is_not_json() -> None:
    with pytest.raises(EventDataError) as info:
        decode_event(ServerSentEvent(event="item", data="{not json"))
    assert info.value.event == "item"
    assert info.value.data == "{not json"
    assert "'item'" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_decode_event_can_keep_the_raw_string() -> None:
    """parse_json=False is the documented escape hatch for streams of plain text."""
    raw = ServerSentEvent(event="log", data="plain text")
    assert decode_event(raw, parse_json=False) == SseEvent("log", "plain text")


def test_decode_event_data_lines_are_joined_before_decoding() -> None:
    assert decode_event(ServerSentEvent(data='{"a":\n1}')).data == {"a": 1}


@pytest.mark.parametrize(
    ("data", "content"),
    [
        ('{"content": "Hi"}', "Hi"),
        ('{"content": ""}', ""),
        ('{"choices": [{"delta": {"content": "Hi"}}]}', "Hi"),
        ('{"choices": [{"delta": {"role": "assistant"}}]}', ""),
        ('{"choices": [{"delta": {"content": null}}]}', ""),
        ('{"choices": []}', ""),
        ('{"other": 1}', ""),
    ],
)
def test_decode_chat_chunk_reads_both_shapes(data: str, content: str) -> None:
    """The seed's {"content"} shape and OpenAI's choices[0].delta.content shape."""
    chunk = decode_chat_chunk(ServerSentEvent(data=data))
    assert chunk.content == content
    assert isinstance(chunk.data, dict)


def test_decode_chat_chunk_errors() -> None:
    """Not JSON is an EventDataError; JSON that is not an object a ProtocolError."""
    with pytest.raises(EventDataError):
        decode_chat_chunk(ServerSentEvent(data="Hello"))
    with pytest.raises(MotiaProtocolError, match="not a JSON object"):
        decode_chat_chunk(ServerSentEvent(data='"Hello"'))


def test_chat_done_is_the_openai_sentinel() -> None:
    assert CHAT_DONE == "[DONE]"


# ----------------------------------------------------------------- wire format


@FLAVORS
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(SEED_SSE, id="lf"),
        pytest.param(SEED_SSE.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(SEED_SSE.replace(b"\n", b"\r"), id="cr"),
        pytest.param(
            b": stream opened\n\n"
            + SEED_SSE.replace(b"\n\n", b"\n\n: keep-alive\n\n\n\n", 1).replace(
                b"event: done", b":\nevent: done"
            ),
            id="comments-and-keepalive",
        ),
    ],
)
async def test_seed_event_stream_line_endings_comments_keepalive(flavor: str, body: bytes) -> None:
    """LF, CRLF and CR line endings, comments and blank keep-alive lines decode alike."""
    driver = Driver(flavor, BASE, {"transport": sse_transport([body])})
    assert await driver.events("POST", "/sse") == SEED_EVENTS


@FLAVORS
async def test_every_byte_in_its_own_read(flavor: str) -> None:
    """The worst split: one byte per read, CRLF pairs and UTF-8 sequences cut in half."""
    body = SEED_SSE.replace(b"\n", b"\r\n").replace(b"calm", "c\u00e4lm".encode())
    pieces = [body[i : i + 1] for i in range(len(body))]
    driver = Driver(flavor, BASE, {"transport": sse_transport(pieces)})
    events = await driver.events("POST", "/sse")
    assert [e.data for e in events][1]["label"] == "c\u00e4lm river"
    assert len(events) == 3


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=len(SEED_SSE) * 2), max_size=12),
    crlf=st.booleans(),
)
def test_any_split_gives_the_same_events(cuts: list[int], crlf: bool) -> None:
    """Property: however the body is cut into reads, the events are the same."""
    body = SEED_SSE.replace(b"\n", b"\r\n") if crlf else SEED_SSE
    with MotiaHttp(BASE, transport=sse_transport(split_at(body, cuts))) as http:
        assert list(http.stream_events("POST", "/sse")) == SEED_EVENTS


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(SEED_CHAT)), max_size=8))
def test_any_split_gives_the_same_chat_text_async(cuts: list[int]) -> None:
    """Property, on the asyncio client: splits never change the joined chat text."""

    async def run() -> str:
        transport = sse_transport(split_at(SEED_CHAT, cuts))
        async with AsyncMotiaHttp(BASE, transport=transport) as http:
            return await http.chat_text("POST", "/chat")

    assert asyncio.run(run()) == "Hello, w\u00f6rld"


@FLAVORS
async def test_id_retry_and_multiline_data(flavor: str) -> None:
    """id is sticky across events (SSE spec), retry is per event, data lines join with \\n."""
    body = (
        b'id: 1\nretry: 2500\nevent: item\ndata: {"a":\ndata: 1}\n\n'
        b'event: item\ndata: {"a": 2}\n\n'
        b"id: 3\ndata: null\n\n"
    )
    driver = Driver(flavor, BASE, {"transport": sse_transport([body])})
    assert await driver.events("GET", "/sse") == [
        SseEvent("item", {"a": 1}, id="1", retry=2500),
        SseEvent("item", {"a": 2}, id="1", retry=None),
        SseEvent("message", None, id="3"),
    ]


@FLAVORS
async def test_an_incomplete_last_frame_is_dropped_at_close(flavor: str) -> None:
    """A frame without its blank line when the stream ends is not an event (SSE spec)."""
    body = SEED_SSE + b'event: item\ndata: {"id": "half'
    driver = Driver(flavor, BASE, {"transport": sse_transport([body])})
    assert await driver.events("POST", "/sse") == SEED_EVENTS


@FLAVORS
async def test_data_that_is_not_json_raises_after_the_good_events(flavor: str) -> None:
    """The error names the event; the events before it were delivered."""
    body = b'event: item\ndata: {"id": 1}\n\nevent: item\ndata: oops\n\nevent: done\ndata: {}\n\n'
    driver = Driver(flavor, BASE, {"transport": sse_transport([body])})
    got: list[Any] = []
    with pytest.raises(EventDataError, match="'item'"):
        await driver.events("POST", "/sse", sink=got)
    assert got == [SseEvent("item", {"id": 1})]


@FLAVORS
async def test_parse_json_false_yields_raw_strings(flavor: str) -> None:
    body = b'event: log\ndata: not json\n\ndata: {"a": 1}\n\n'
    driver = Driver(flavor, BASE, {"transport": sse_transport([body])})
    events = await driver.events("POST", "/sse", parse_json=False)
    assert [e.data for e in events] == ["not json", '{"a": 1}']


@FLAVORS
async def test_chat_stream_chunks_and_text(flavor: str) -> None:
    driver = Driver(flavor, BASE, {"transport": sse_transport([SEED_CHAT])})
    chunks = await driver.chat("POST", "/chat", json={"message": "hi"})
    assert [c.content for c in chunks] == ["Hel", "lo, ", "w\u00f6rld"]
    assert await driver.chat_text("POST", "/chat") == "Hello, w\u00f6rld"


@FLAVORS
async def test_chat_ignores_named_events_comments_and_what_follows_done(flavor: str) -> None:
    """Only unnamed frames are chat text; reading stops at [DONE]."""
    body = (
        b": keep-alive\r\n\r\n"
        b"event: ping\r\ndata: {}\r\n\r\n"
        b'data: {"content": "A"}\r\n\r\n'
        b"data: [DONE]\r\n\r\n"
        b'data: {"content": "never read"}\r\n\r\n'
    )
    driver = Driver(flavor, BASE, {"transport": sse_transport([body])})
    assert await driver.chat_text("POST", "/chat") == "A"


@FLAVORS
async def test_chat_that_ends_without_done_raises(flavor: str) -> None:
    """A token stream cut before [DONE] is incomplete text: say so, after its chunks."""
    body = b'data: {"content": "A"}\n\ndata: {"content": "B"}\n\n'
    driver = Driver(flavor, BASE, {"transport": sse_transport([body])})
    got: list[Any] = []
    with pytest.raises(MotiaConnectionError, match=r"before \[DONE\]"):
        await driver.chat("POST", "/chat", sink=got)
    assert [c.content for c in got] == ["A", "B"]


@FLAVORS
async def test_chat_data_that_is_not_json_raises(flavor: str) -> None:
    driver = Driver(flavor, BASE, {"transport": sse_transport([b"data: Hello\n\n"])})
    with pytest.raises(EventDataError, match="'message'"):
        await driver.chat_text("POST", "/chat")


@FLAVORS
async def test_content_type_with_charset_is_accepted(flavor: str) -> None:
    transport = sse_transport([SEED_SSE], content_type="text/event-stream; charset=utf-8")
    driver = Driver(flavor, BASE, {"transport": transport})
    assert await driver.events("POST", "/sse") == SEED_EVENTS


# ----------------------------------------------------------- the bounded decoder


def decode_all(pieces: list[bytes], **limits: int) -> list[ServerSentEvent]:
    """Feed ``pieces`` to one SseDecoder, collecting every event after each piece."""
    decoder = SseDecoder(**limits)
    events: list[ServerSentEvent] = []
    for piece in pieces:
        decoder.feed(piece)
        while (sse := decoder.next_event()) is not None:
            events.append(sse)
    return events


def httpx_sse_events(pieces: list[bytes]) -> list[ServerSentEvent]:
    """What httpx-sse's own EventSource makes of the same body, for comparison."""
    headers = {"content-type": "text/event-stream"}
    response = httpx.Response(200, headers=headers, stream=Chunks(pieces))
    return list(EventSource(response).iter_sse())


def fields(events: list[ServerSentEvent]) -> list[tuple[str, str, str, int | None]]:
    return [(e.event, e.data, e.id, e.retry) for e in events]


_FIELD = st.sampled_from(["data", "event", "id", "", "dat", "DATA", "data ", "retr"])
_VALUE = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["{}", "[DONE]", '{"a": 1}', "a\x00b", "\u00e9\u4e2d", " 5", "-5"]),
)
_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=6)
_LINE = st.one_of(
    st.tuples(_FIELD, st.sampled_from([":", ": ", ":  ", ""]), _VALUE).map("".join),
    # retry with a number: httpx-sse also takes "retry: -5" or "retry:  5", the spec does not
    st.tuples(st.just("retry"), st.sampled_from([":", ": "]), _DIGITS).map("".join),
    _VALUE.map(lambda t: ":" + t),
)
_NEWLINE = st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\r\n\r\n", "\r\r"])
_BODY = st.lists(st.tuples(_LINE, _NEWLINE).map("".join), max_size=15).map(
    lambda lines: "".join(lines).encode()
)


@settings(max_examples=300, deadline=None)
@given(body=_BODY, cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=8))
def test_the_bounded_decoder_reads_any_split_body_as_httpx_sse_does(
    body: bytes, cuts: list[int]
) -> None:
    """Differential: the same events as httpx-sse's EventSource, however the body is cut."""
    ours = fields(decode_all(split_at(body, cuts)))
    assert ours == fields(httpx_sse_events([body]))


@pytest.mark.parametrize("value", [b"-5", b" 5", b"+5", b"\xd9\xa3", b"5s"])
def test_decoder_takes_retry_from_ascii_digits_only(value: bytes) -> None:
    """The SSE spec ignores a retry that is not ASCII digits (httpx-sse would take -5)."""
    assert fields(decode_all([b"retry: " + value + b"\ndata: x\n\n"])) == [
        ("message", "x", "", None)
    ]


def test_decoder_line_limit_counts_bytes_without_the_line_end() -> None:
    """A line of exactly max_line bytes passes, in any split; one byte more raises."""
    line = b"data: " + b"x" * 10  # 16 bytes
    assert fields(decode_all([line + b"\r\n\r\n"], max_line=16)) == [
        ("message", "x" * 10, "", None)
    ]
    assert len(decode_all([line[:5], line[5:], b"\r", b"\n\r\n"], max_line=16)) == 1
    with pytest.raises(EventTooLarge, match=r"longer than 15 bytes \(max_line=15\)") as info:
        decode_all([line + b"\n\n"], max_line=15)
    assert (info.value.option, info.value.limit) == ("max_line", 15)
    with pytest.raises(EventTooLarge):  # no line end yet, but already too long
        decode_all([line[:8], line[8:]], max_line=15)


def test_decoder_event_limit_counts_the_joined_data() -> None:
    """Two data lines of 4 bytes join into 9 bytes: 9 passes, 8 raises, names the option."""
    body = b"data: abcd\ndata: efgh\n\n"
    assert decode_all([body], max_event_size=9)[0].data == "abcd\nefgh"
    with pytest.raises(EventTooLarge, match="max_event_size=8") as info:
        decode_all([body], max_event_size=8)
    assert info.value.option == "max_event_size"
    # Comments, event names and ids do not accumulate: only data makes an event large.
    names = b"event: e\n: comment\nid: 1\n" * 1000 + b"data: ok\n\n"
    assert decode_all([names], max_event_size=8)[0].data == "ok"


def test_decoder_gives_the_events_before_a_violation_then_stays_spent() -> None:
    decoder = SseDecoder(max_line=8)
    decoder.feed(b"data: 1\n\ndata: 2\n\ndata: 123456789\n\ndata: 3\n\n")
    assert [decoder.next_event().data, decoder.next_event().data] == ["1", "2"]  # type: ignore[union-attr]
    with pytest.raises(EventTooLarge):
        decoder.next_event()
    decoder.feed(b"data: 4\n\n" * 1000)  # dropped: nothing more is buffered
    with pytest.raises(EventTooLarge):
        decoder.next_event()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_decoder_limits_must_be_positive_integers(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_line must be a positive number"):
        SseDecoder(max_line=bad)
    with pytest.raises(ValueError, match="max_event_size must be a positive number"):
        SseDecoder(max_event_size=bad)


def test_decoder_ignores_a_retry_too_long_to_convert() -> None:
    """Python refuses int() of more than 4300 digits: that is an ignored field, not a crash."""
    events = decode_all([b"retry: " + b"9" * 5000 + b"\ndata: x\n\n"])
    assert fields(events) == [("message", "x", "", None)]


@FLAVORS
async def test_limits_are_options_of_the_streaming_methods(flavor: str) -> None:
    """max_line / max_event_size on stream_events, stream_chat and chat_text."""
    body = b'data: {"content": "' + b"a" * 100 + b'"}\n\ndata: [DONE]\n\n'
    driver = Driver(flavor, BASE, {"transport": sse_transport([body])})
    assert len(await driver.chat_text("POST", "/chat", max_line=200)) == 100
    with pytest.raises(EventTooLarge, match="max_line=50"):
        await driver.chat_text("POST", "/chat", max_line=50)
    with pytest.raises(EventTooLarge, match="max_event_size=50"):
        await driver.chat("POST", "/chat", max_event_size=50)
    with pytest.raises(EventTooLarge, match="max_line=50"):
        await driver.events("POST", "/chat", max_line=50, parse_json=False)
    with pytest.raises(ValueError, match="max_line must be a positive"):
        await driver.events("POST", "/chat", max_line=0)
