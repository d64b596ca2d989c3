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

What this module does not do: reconnect with ``Last-Event-ID``, honour
``retry:`` (it is reported, not acted on), or strip a leading byte-order mark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from httpx_sse import ServerSentEvent

from motia_client._exceptions import EventDataError, ProtocolError

__all__ = ["CHAT_DONE", "ChatChunk", "SseEvent", "decode_chat_chunk", "decode_event"]

CHAT_DONE = "[DONE]"
"""The data of the frame that ends an OpenAI-style token stream."""


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
