"""Typed Server-Sent Events for Motia HTTP steps.

Motia steps stream two SSE shapes (PROTOCOL.md section 7):

* named events: ``event: item`` frames with JSON data, then ``event: done``;
* OpenAI-style token streams: unnamed ``data: {"content": "..."}`` frames,
  then the ``data: [DONE]`` sentinel.

:class:`motia_client.MotiaHttp` and :class:`motia_client.AsyncMotiaHttp` read
both from the network and yield the values defined here. The two functions are
pure: they turn an ``httpx_sse.ServerSentEvent`` (already split into fields by
httpx-sse) into a typed value, so code that drives httpx-sse itself can use
them too.

:class:`SseDecoder` is the bounded wire decoder the clients use: bytes in,
``ServerSentEvent`` out, with no I/O. It reads the SSE format the way httpx-sse
does, but holds at most ``max_line`` bytes of an unfinished line and
``max_event_size`` bytes of one event's data, so a hostile server cannot make
the client buffer without limit: past a limit it raises :class:`EventTooLarge`.

What this module does not do: reconnect with ``Last-Event-ID``, honour
``retry:`` (it is reported, not acted on), or strip a leading byte-order mark.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from httpx_sse import ServerSentEvent

from motia_client._exceptions import EventDataError, ProtocolError

__all__ = [
    "CHAT_DONE",
    "DEFAULT_MAX_EVENT_SIZE",
    "DEFAULT_MAX_LINE",
    "ChatChunk",
    "EventTooLarge",
    "SseDecoder",
    "SseEvent",
    "decode_chat_chunk",
    "decode_event",
]

CHAT_DONE = "[DONE]"
"""The data of the frame that ends an OpenAI-style token stream."""

DEFAULT_MAX_LINE = 4 * 1024 * 1024
"""Default ``max_line``: the longest SSE line accepted, in bytes (4 MiB)."""

DEFAULT_MAX_EVENT_SIZE = 8 * 1024 * 1024
"""Default ``max_event_size``: the most data one SSE event may carry, in bytes (8 MiB)."""

LimitName = Literal["max_line", "max_event_size"]

_LINE_END = re.compile(rb"[\r\n]")


class EventTooLarge(ProtocolError):
    """An SSE line or event was larger than the reader's limit; the stream is abandoned.

    ``option`` names the limit (``"max_line"`` or ``"max_event_size"``) and
    ``limit`` its value in bytes: raise that option to accept larger events.
    """

    def __init__(self, option: LimitName, limit: int) -> None:
        self.option = option
        self.limit = limit
        what = "a line" if option == "max_line" else "the data of one event"
        super().__init__(
            f"the server sent {what} longer than {limit} bytes ({option}={limit}); "
            f"pass a larger {option}= if such events are expected"
        )


@dataclass(frozen=True)
class SseEvent:
    """One Server-Sent Event, with its data decoded.

    ``event`` is the event name (``"message"`` when the frame names none),
    ``data`` the JSON-decoded data (``None`` for a frame without data, the raw
    string when decoding was turned off), ``id`` the last event id seen on the
    stream (``None`` until the server sends one; the SSE spec makes it sticky)
    and ``retry`` the reconnection delay in milliseconds if this frame set one.
    """

    event: str
    data: Any
    id: str | None = None
    retry: int | None = None


@dataclass(frozen=True)
class ChatChunk:
    """One piece of an OpenAI-style token stream.

    ``content`` is the text to append (``""`` when the frame carries none, as
    in OpenAI's first, role-only delta); ``data`` is the whole decoded frame.
    """

    content: str
    data: Any


def decode_event(sse: ServerSentEvent, *, parse_json: bool = True) -> SseEvent:
    """Turn a raw httpx-sse event into an :class:`SseEvent`.

    With ``parse_json`` (the default) the data is decoded as JSON and data that
    is not JSON raises :class:`~motia_client.EventDataError`, which names the
    event and shows the start of the data. Empty data decodes to ``None``.
    With ``parse_json=False`` the data is returned as the raw string.
    """
    data: Any = sse.data
    if parse_json:
        data = _json_or_none(sse.event, sse.data)
    return SseEvent(event=sse.event, data=data, id=sse.id or None, retry=sse.retry)


def decode_chat_chunk(sse: ServerSentEvent) -> ChatChunk:
    """Turn one OpenAI-style frame into a :class:`ChatChunk`.

    The text is read from ``{"content": ...}`` (the Motia seed's shape) or from
    ``{"choices": [{"delta": {"content": ...}}]}`` (OpenAI's own shape). Data
    that is not JSON raises :class:`~motia_client.EventDataError`; JSON that is
    not an object raises :class:`~motia_client.ProtocolError`. The ``[DONE]``
    sentinel is not a chunk: check for :data:`CHAT_DONE` before calling this.
    """
    data = _json_or_none(sse.event, sse.data)
    if not isinstance(data, dict):
        raise ProtocolError(f"chat frame is not a JSON object: {_preview(sse.data)!r}")
    return ChatChunk(content=_chat_content(data), data=data)


def _json_or_none(event: str, data: str) -> Any:
    """Decode an event's data as JSON; empty data is ``None``."""
    if not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise EventDataError(event, data) from exc


def _chat_content(frame: dict[str, Any]) -> str:
    """The text a chat frame adds, from either known shape, or ``""``."""
    content = frame.get("content")
    if isinstance(content, str):
        return content
    choices = frame.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            text: str = delta["content"]
            return text
    return ""


def _preview(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _check_limit(option: LimitName, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option} must be a positive number of bytes, not {value!r}")
    return value


class SseDecoder:
    """Bounded, sans-I/O Server-Sent Events decoder: bytes in, events out.

    Call :meth:`feed` with each chunk of the body as it arrives, then
    :meth:`next_event` until it returns ``None`` (more data needed). Lines end
    with ``\\n``, ``\\r\\n`` or ``\\r``; the data is UTF-8 (bad bytes become
    U+FFFD); fields follow the WHATWG parsing rules, as httpx-sse reads them.
    An unfinished last event is dropped when the body ends, so nothing needs
    to be flushed. :meth:`next_event` raises :class:`EventTooLarge` when a line
    outgrows ``max_line`` bytes or an event's data ``max_event_size`` bytes,
    after every event completed before that point was returned; the decoder is
    then spent (each later call raises the same error).
    """

    def __init__(
        self, *, max_line: int = DEFAULT_MAX_LINE, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    ) -> None:
        self.max_line = _check_limit("max_line", max_line)
        self.max_event_size = _check_limit("max_event_size", max_event_size)
        self._buffer = bytearray()
        self._pos = 0  # start of the first line not yet read
        self._scanned = 0  # no line end lies in _buffer[_pos:_scanned]
        self._skip_lf = False  # the last line ended in "\r": a "\n" first is its pair
        self._event = ""
        self._data: list[str] = []
        self._data_size = -1  # bytes of the data joined with "\n"; -1 for no data line
        self._last_id = ""
        self._retry: int | None = None
        self._error: EventTooLarge | None = None

    def feed(self, data: bytes) -> None:
        """Add a chunk of the body; read the events it completes with :meth:`next_event`."""
        if self._error is not None:
            return  # spent: keep nothing more
        if self._pos:
            del self._buffer[: self._pos]
            self._scanned -= self._pos
            self._pos = 0
        self._buffer += data

    def next_event(self) -> ServerSentEvent | None:
        """The next complete event, or ``None`` until more data is fed."""
        while True:
            line = self._next_line()
            if line is None:
                return None
            event = self._interpret(line)
            if event is not None:
                return event

    def _next_line(self) -> bytes | None:
        """The next whole line without its end, or None; enforces ``max_line``."""
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        if self._skip_lf and self._pos < len(buffer):
            self._skip_lf = False
            if buffer[self._pos] == 0x0A:
                self._pos += 1
                self._scanned = max(self._scanned, self._pos)
        found = _LINE_END.search(buffer, self._scanned)
        if found is None:
            self._scanned = len(buffer)
            if self._scanned - self._pos > self.max_line:
                self._fail("max_line", self.max_line)
            return None
        end = found.start()
        if end - self._pos > self.max_line:
            self._fail("max_line", self.max_line)
        line = bytes(buffer[self._pos : end])
        self._pos = self._scanned = end + 1
        if buffer[end] == 0x0D:
            self._skip_lf = True
        return line

    def _interpret(self, raw: bytes) -> ServerSentEvent | None:
        """Apply one line to the event being built; return the event a blank line ends."""
        if not raw:
            return self._dispatch()
        if raw[0] == 0x3A:  # ":" a comment
            return None
        name, colon, value = raw.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data_size += len(value) + 1
            if self._data_size > self.max_event_size:
                self._fail("max_event_size", self.max_event_size)
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._last_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():  # ASCII digits only, as the spec says
            with contextlib.suppress(ValueError):  # more digits than Python converts
                self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not (self._event or self._data or self._last_id or self._retry is not None):
            return None
        sse = ServerSentEvent(
            event=self._event, data="\n".join(self._data), id=self._last_id, retry=self._retry
        )
        self._event, self._data, self._data_size, self._retry = "", [], -1, None
        return sse

    def _fail(self, option: LimitName, limit: int) -> None:
        """Drop what is buffered and remember the error: the stream cannot be resynced."""
        self._buffer = bytearray()
        self._pos = self._scanned = 0
        self._skip_lf = False
        self._data = []
        self._error = EventTooLarge(option, limit)
        raise self._error
