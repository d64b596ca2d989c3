"""What the server sends: rooms, dialect-neutral frames, their clock and their wire encoding.

A :class:`Frame` is produced by the store (state changes, syncs, custom events) or by
the socket layer (refusals). :class:`FrameEncoder` turns it into the JSON text of
PROTOCOL.md section 4 for one dialect:

- ``motia`` (0.x): no top-level ``type``; a refused join is a ``STREAM_ACCESS_DENIED``
  error event; a join to a stream that does not exist gets two error events, the
  first saying ``Stream <name> not found`` (0.x sends every socket error with that
  one code, so clients treat both as a refusal); an item join on a missing item
  gets no frame at all.
- ``iii`` (1.x engine): ``"type": "stream"`` at the top level; a refused join, and a
  join to a stream that does not exist, is ``{"type": "unauthorized"}``; a missing
  item syncs as ``null``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Dialect = Literal["motia", "iii"]
DIALECTS: tuple[Dialect, ...] = ("motia", "iii")

Item = dict[str, Any]
"""A stream item: a JSON object that carries its own ``"id"``."""

ACCESS_DENIED_CODE = "STREAM_ACCESS_DENIED"


@dataclass(frozen=True, slots=True)
class Room:
    """A subscription target: a whole group (``item_id is None``) or one item of it."""

    stream: str
    group: str
    item_id: str | None = None

    @property
    def group_room(self) -> Room:
        """The group room this room belongs to (itself for a group room)."""
        return Room(self.stream, self.group) if self.item_id is not None else self


@dataclass(frozen=True, slots=True)
class Frame:
    """One server-to-client message before encoding; ``event`` is the inner event object."""

    timestamp: int
    stream: str
    group: str
    item_id: str | None
    event: Mapping[str, Any]

    @property
    def room(self) -> Room:
        """The room the frame is about (an item room when it has an item id)."""
        return Room(self.stream, self.group, self.item_id)


class MillisClock:
    """Epoch milliseconds that never go backwards; equal values are allowed.

    Frames are ordered by timestamp on the client, so a wall clock stepping back
    must not make a newer frame look older. Thread-safe.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        """The current time in integer ms, at least the last value returned."""
        wall = time.time_ns() // 1_000_000
        with self._lock:
            self._last = max(self._last, wall)
            return self._last


CLOCK = MillisClock()
"""The process-wide clock shared by the store and the socket layer."""


def custom_event(event_type: str, data: Any) -> dict[str, Any]:
    """The inner event of a custom, ephemeral event."""
    return {"type": "event", "event": {"type": event_type, "data": data}}


def refusal_event(dialect: Dialect, message: str = "Access denied") -> dict[str, Any]:
    """The inner event telling a client its join was refused (0.x: with ``message``)."""
    if dialect == "iii":
        return {"type": "unauthorized"}
    return custom_event("error", {"code": ACCESS_DENIED_CODE, "message": message})


def not_found_events(dialect: Dialect, stream: str) -> list[dict[str, Any]]:
    """The inner events answering a join to a stream that does not exist, in order.

    Motia 0.x sends the error its access check raised (``Stream <name> not found``),
    then its usual access-denied event; the iii engine refuses it like any join.
    """
    if dialect == "iii":
        return [refusal_event(dialect)]
    return [refusal_event(dialect, f"Stream {stream} not found"), refusal_event(dialect)]


STATE_KINDS = ("create", "update", "delete")


def state_echo(frame: Frame) -> Frame | None:
    """The custom event Motia 0.17's Redis adapter pushes after a state frame, or None.

    With that adapter every set/delete also reaches subscribers as a custom event
    whose inner type is ``create``/``update``/``delete`` and whose data is the item,
    with the same timestamp (PROTOCOL.md section 4, "Observed on a running Motia 0.17").
    """
    kind = frame.event.get("type")
    if kind not in STATE_KINDS:
        return None
    event = custom_event(str(kind), frame.event.get("data"))
    return Frame(frame.timestamp, frame.stream, frame.group, frame.item_id, event)


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 friendly, rejecting NaN (not valid JSON for other peers)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class FrameEncoder:
    """Encodes frames for one dialect, once per frame even when fanned out to many sockets."""

    def __init__(self, dialect: Dialect) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")
        self.dialect: Dialect = dialect
        self._last: Frame | None = None
        self._last_text: str | None = None
        self._echo_of: Frame | None = None
        self._echo_text: str | None = None

    def encode(self, frame: Frame) -> str | None:
        """The wire text of ``frame``, or None when the dialect sends nothing for it."""
        if frame is self._last:
            return self._last_text
        text = self._encode(frame)
        self._last, self._last_text = frame, text
        return text

    def encode_echo(self, frame: Frame) -> str | None:
        """The wire text of ``frame``'s state echo (see ``state_echo``), once per frame."""
        if frame is self._echo_of:
            return self._echo_text
        echo = state_echo(frame)
        text = self._encode(echo) if echo is not None else None
        self._echo_of, self._echo_text = frame, text
        return text

    def _encode(self, frame: Frame) -> str | None:
        event = frame.event
        is_missing_item_sync = (
            frame.item_id is not None and event.get("type") == "sync" and event.get("data") is None
        )
        if self.dialect == "motia" and is_missing_item_sync:
            return None
        envelope: dict[str, Any] = {}
        if self.dialect == "iii":
            envelope["type"] = "stream"
        envelope["timestamp"] = frame.timestamp
        envelope["streamName"] = frame.stream
        envelope["groupId"] = frame.group
        if frame.item_id is not None:
            envelope["id"] = frame.item_id
        envelope["event"] = event
        return dumps(envelope)
