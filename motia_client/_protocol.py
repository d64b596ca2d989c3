"""The Motia stream wire format: encode client frames, decode server frames.

Pure functions, no I/O, no clock. Decoding never raises: a frame that breaks the
contract (PROTOCOL.md section 4) becomes a :class:`MalformedFrame` value that the
caller reports and skips. Both server dialects are accepted: Motia 0.x (no
top-level ``type``; a refusal is a custom ``error`` event with code
``STREAM_ACCESS_DENIED``) and the iii engine (``"type": "stream"``; a refusal is
an ``unauthorized`` event).

Timestamps are integer milliseconds (an integral float is taken as its int). One
outside ``[0, latest]`` is malformed: ``latest`` is the caller's bound, the
client's clock plus :data:`FUTURE_TOLERANCE_MS` (the session's rule), and never
above :data:`MAX_TIMESTAMP` (JavaScript's largest exact integer, more than any
server's ``Date.now()``), so one poisoned frame can never make later frames of
its item look stale.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Final, Literal, NamedTuple

try:  # orjson (the ``fast`` extra) decodes about 1.3x faster; the stdlib is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by the no-extras install check
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "FUTURE_TOLERANCE_MS",
    "MAX_TIMESTAMP",
    "CustomEvent",
    "Frame",
    "MalformedFrame",
    "Refusal",
    "StateFrame",
    "decode_frame",
    "dumps",
    "encode_join",
    "encode_leave",
    "is_iii",
    "loads",
]

StateKind = Literal["sync", "create", "update", "delete"]
# Motia 0.x refuses a join with a custom ``error`` event: access denied, or an undeclared stream.
REFUSAL_CODES = frozenset(("STREAM_ACCESS_DENIED", "STREAM_NOT_FOUND"))
_NOT_FOUND = re.compile(r"Stream\b.*\bnot found", re.IGNORECASE)
MAX_TIMESTAMP: Final = 2**53 - 1
FUTURE_TOLERANCE_MS: Final = 24 * 3600 * 1000  # clocks disagree; a day ahead is a bad stamp
_PREVIEW = 120
_ONLY_DICTS = {dict}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _stdlib_loads(raw: str | bytes) -> Any:
    # Reject NaN and Infinity like orjson: both decoders accept the same frames.
    return json.loads(raw, parse_constant=_reject_constant)


def _stdlib_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _orjson_dumps(value: Any) -> str:
    text: str = _orjson.dumps(value).decode()
    return text


loads = _orjson.loads if _orjson is not None else _stdlib_loads
dumps = _orjson_dumps if _orjson is not None else _stdlib_dumps


class StateFrame:
    """A state event: ``sync``, ``create``, ``update`` or ``delete``.

    ``key`` is the id the item is stored under in a group: the item's own
    ``id`` field, else the envelope ``id`` (``None`` for a group sync).
    """

    __slots__ = ("data", "group", "item_id", "key", "kind", "stream", "timestamp")

    def __init__(
        self,
        kind: StateKind,
        stream: str,
        group: str,
        item_id: str | None,
        timestamp: int,
        data: Any,
        key: str | None,
    ) -> None:
        self.kind: StateKind = kind
        self.stream = stream
        self.group = group
        self.item_id = item_id
        self.timestamp = timestamp
        self.data = data
        self.key = key

    def _fields(self) -> tuple[Any, ...]:
        return (self.kind, self.stream, self.group, self.item_id, self.timestamp, self.data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StateFrame):
            return NotImplemented
        return self._fields() == other._fields() and self.key == other.key

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr__(self) -> str:
        kind, stream, group, item_id, timestamp, data = self._fields()
        return (
            f"StateFrame(kind={kind!r}, stream={stream!r}, group={group!r}, item_id={item_id!r}, "
            f"timestamp={timestamp!r}, data={data!r}, key={self.key!r})"
        )


class CustomEvent(NamedTuple):
    """An ephemeral custom event (``{"type": "event", "event": {...}}``): not state."""

    stream: str
    group: str
    item_id: str | None
    timestamp: int
    type: str
    data: Any


class Refusal(NamedTuple):
    """The server refused a join (iii ``unauthorized`` or 0.x ``STREAM_ACCESS_DENIED``)."""

    stream: str
    group: str
    item_id: str | None
    timestamp: int
    reason: str | None


class MalformedFrame(NamedTuple):
    """A frame that could not be decoded; ``preview`` is its start, for logs."""

    reason: str
    preview: str


Frame = StateFrame | CustomEvent | Refusal | MalformedFrame


def encode_join(stream: str, group_id: str, item_id: str | None = None) -> tuple[str, str]:
    """Return ``(frame_text, subscription_id)`` for a join with a fresh uuid4.

    The server keys subscriptions globally, so every join, including a rejoin
    after a reconnect, must carry a new ``subscriptionId``.
    """
    subscription_id = str(uuid.uuid4())
    data: dict[str, Any] = {"streamName": stream, "groupId": group_id}
    if item_id is not None:
        data["id"] = item_id
    data["subscriptionId"] = subscription_id
    return dumps({"type": "join", "data": data}), subscription_id


def encode_leave(stream: str, group_id: str, item_id: str | None, subscription_id: str) -> str:
    """Return the leave frame that ends the join made with ``subscription_id``."""
    data: dict[str, Any] = {"streamName": stream, "groupId": group_id}
    if item_id is not None:
        data["id"] = item_id
    data["subscriptionId"] = subscription_id
    return dumps({"type": "leave", "data": data})


def _preview(raw: str | bytes) -> str:
    text = raw[:_PREVIEW].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[:_PREVIEW]
    return text + ("..." if len(raw) > _PREVIEW else "")


def is_iii(raw: str | bytes) -> bool:
    """Whether a well-formed frame is in the iii dialect (top-level ``"type": "stream"``)."""
    message = loads(raw)
    return type(message) is dict and message.get("type") == "stream"


def decode_frame(raw: str | bytes, latest: int = MAX_TIMESTAMP) -> Frame:
    """Decode one text or binary server frame; never raises.

    Returns a :class:`StateFrame`, :class:`CustomEvent` or :class:`Refusal`, or a
    :class:`MalformedFrame` saying what is wrong with it. ``latest`` is the
    largest timestamp accepted (see the module docstring).
    """
    try:
        message = loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        return MalformedFrame(f"not JSON ({type(exc).__name__})", _preview(raw))
    if type(message) is not dict:
        return MalformedFrame("not a JSON object", _preview(raw))
    # Typed after the checks, so that compiled code calls the dicts' methods directly.
    envelope: dict[str, Any] = message
    stream = envelope.get("streamName")
    group = envelope.get("groupId")
    event_value = envelope.get("event")
    timestamp = envelope.get("timestamp")
    item_id = envelope.get("id")
    if type(stream) is not str or type(group) is not str:
        return MalformedFrame("streamName and groupId must be strings", _preview(raw))
    if type(event_value) is not dict:
        return MalformedFrame("event must be an object", _preview(raw))
    event: dict[str, Any] = event_value
    if type(timestamp) is not int:
        if type(timestamp) is not float or not timestamp.is_integer():
            return MalformedFrame("timestamp must be integer milliseconds", _preview(raw))
        timestamp = int(timestamp)
    stamp: int = timestamp
    if not 0 <= stamp <= latest:
        return MalformedFrame(
            f"timestamp {stamp} is outside [0, {latest}] (the client's clock + 1 day)",
            _preview(raw),
        )
    if item_id is not None and type(item_id) is not str:
        return MalformedFrame("id must be a string or null", _preview(raw))
    kind = event.get("type")
    data = event.get("data")
    if kind == "update" or kind == "create":  # the usual frame first
        if type(data) is dict:
            item: dict[str, Any] = data
            own = item.get("id")
            key = own if type(own) is str else item_id
            if key is not None:
                return StateFrame(kind, stream, group, item_id, stamp, item, key)
        return _decode_state(kind, stream, group, item_id, stamp, data, raw)
    if kind == "sync" or kind == "delete":
        return _decode_state(kind, stream, group, item_id, stamp, data, raw)
    if kind == "event":
        return _decode_custom(stream, group, item_id, stamp, event.get("event"), raw)
    if kind == "unauthorized":
        return Refusal(stream, group, item_id, stamp, None)
    return MalformedFrame(f"unknown event type {kind!r:.60}", _preview(raw))


def _decode_state(
    kind: StateKind,
    stream: str,
    group: str,
    item_id: str | None,
    timestamp: int,
    data: Any,
    raw: str | bytes,
) -> Frame:
    if kind == "sync":
        if item_id is None:
            # set(map(type, ...)) runs in C: a 100,000-item sync is checked in ~3 ms.
            if type(data) is not list or (data and set(map(type, data)) != _ONLY_DICTS):
                return MalformedFrame("a group sync needs a list of objects", _preview(raw))
        elif data is not None and type(data) is not dict:
            return MalformedFrame("an item sync needs an object or null", _preview(raw))
        return StateFrame(kind, stream, group, item_id, timestamp, data, item_id)
    if type(data) is dict:
        own = data.get("id")
        key = own if type(own) is str else item_id
    elif data is None and kind == "delete":
        key = item_id
    else:
        return MalformedFrame(f"{kind} needs an object as data", _preview(raw))
    if key is None:
        return MalformedFrame(f"{kind} names no item id", _preview(raw))
    return StateFrame(kind, stream, group, item_id, timestamp, data, key)


def _decode_custom(
    stream: str,
    group: str,
    item_id: str | None,
    timestamp: int,
    inner: Any,
    raw: str | bytes,
) -> Frame:
    if type(inner) is not dict or type(inner.get("type")) is not str:
        return MalformedFrame("a custom event needs event.type", _preview(raw))
    name: str = inner["type"]
    data = inner.get("data")
    if name == "error" and type(data) is dict:
        message = data.get("message")
        text = message if type(message) is str else None
        code = data.get("code")
        if (type(code) is str and code in REFUSAL_CODES) or (
            text is not None and _NOT_FOUND.search(text)
        ):
            return Refusal(stream, group, item_id, timestamp, text)
    return CustomEvent(stream, group, item_id, timestamp, name, data)
