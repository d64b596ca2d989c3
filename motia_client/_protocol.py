"""The Motia stream wire format: encode client frames, decode server frames.

Pure functions, no I/O. Decoding never raises: a frame that breaks the
contract (PROTOCOL.md section 4) becomes a :class:`MalformedFrame` value that
the caller logs and skips. Both server dialects are accepted: Motia 0.x (no
top-level ``type``; a refusal is a custom ``error`` event with code
``STREAM_ACCESS_DENIED``) and the iii engine (``"type": "stream"``; a refusal is
an ``unauthorized`` event).
"""

from __future__ import annotations

import importlib
import json
import uuid
from typing import Any, Literal, NamedTuple, final

# orjson is the fastest correct decoder; the stdlib is the fallback. Imported by
# name so that the module type-checks the same with or without orjson (mypyc
# compiles it without: setup.py runs it with --no-site-packages).
_orjson: Any
try:
    _orjson = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - exercised where orjson is absent
    _orjson = None

__all__ = [
    "CustomEvent",
    "Frame",
    "ItemChange",
    "MalformedFrame",
    "Refusal",
    "StateFrame",
    "decode_frame",
    "decode_message",
    "dumps",
    "encode_join",
    "encode_leave",
    "item_change",
    "loads",
    "parse",
]

StateKind = Literal["sync", "create", "update", "delete"]
_STATE_KINDS = frozenset(("sync", "create", "update", "delete"))
ACCESS_DENIED = "STREAM_ACCESS_DENIED"
_PREVIEW = 120
_ONLY_DICTS = {dict}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _stdlib_loads(raw: str | bytes) -> Any:
    # Reject NaN and Infinity like orjson: both decoders accept the same frames.
    return json.loads(raw, parse_constant=_reject_constant)


def _stdlib_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


if _orjson is not None:
    loads = _orjson.loads

    def dumps(value: Any) -> str:
        """Serialize ``value`` as compact JSON text."""
        text: str = _orjson.dumps(value).decode()
        return text

else:  # pragma: no cover - exercised where orjson is absent
    loads = _stdlib_loads
    dumps = _stdlib_dumps


@final
class StateFrame:
    """A state event: ``sync``, ``create``, ``update`` or ``delete``.

    ``key`` is the id the item is stored under in a group: the item's own
    ``id`` field, else the envelope ``id`` (``None`` for a group sync). A plain
    class rather than a NamedTuple: one is built per received frame, and a
    compiled class is built several times faster.
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
        return (
            self.kind,
            self.stream,
            self.group,
            self.item_id,
            self.timestamp,
            self.data,
            self.key,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StateFrame):
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self) -> str:
        kind, stream, group, item_id, timestamp, data, key = self._fields()
        return (
            f"StateFrame(kind={kind!r}, stream={stream!r}, group={group!r}, item_id={item_id!r}, "
            f"timestamp={timestamp!r}, data={data!r}, key={key!r})"
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


def decode_frame(raw: str | bytes) -> Frame:
    """Decode one text or binary server frame; never raises.

    Returns a :class:`StateFrame`, :class:`CustomEvent` or :class:`Refusal`,
    or a :class:`MalformedFrame` saying what is wrong with it.
    """
    message = parse(raw)
    kind, stream, group, item_id, timestamp, data, key = item_change(message)
    if kind:
        return StateFrame(kind, stream, group, item_id, timestamp, data, key)  # type: ignore[arg-type]
    return decode_message(message, raw)


def parse(raw: str | bytes) -> Any:
    """The JSON value of a frame, or a :class:`MalformedFrame` if it is not JSON; never raises."""
    try:
        return loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        return MalformedFrame(f"not JSON ({type(exc).__name__})", _preview(raw))


# (kind, stream, group, item_id, timestamp, data, key) of an item change; kind "" if none.
ItemChange = tuple[str, str, str, str | None, int, Any, str]
_NO_CHANGE: ItemChange = ("", "", "", None, 0, None, "")


def item_change(message: Any) -> ItemChange:
    """The fields of a well-formed ``update`` or ``create`` (the usual frame), or ``kind`` "".

    The hot path of decoding, without a frame object: compiled, the tuple is
    returned by value, so the dispatcher allocates nothing for it. Anything
    else is left to :func:`decode_message`, which says what it is.
    """
    if type(message) is not dict:
        return _NO_CHANGE
    envelope: dict[str, Any] = message  # typed: compiled, these are direct dict calls
    try:
        event = envelope["event"]
        if type(event) is not dict:
            return _NO_CHANGE
        body: dict[str, Any] = event
        kind = body["type"]
        if type(kind) is not str or (kind != "update" and kind != "create"):
            return _NO_CHANGE
        data = body["data"]
        stream = envelope["streamName"]
        group = envelope["groupId"]
        timestamp = envelope["timestamp"]
    except KeyError:
        return _NO_CHANGE
    item_id = envelope.get("id")
    if (
        type(data) is not dict
        or type(stream) is not str
        or type(group) is not str
        or type(timestamp) is not int
        or (item_id is not None and type(item_id) is not str)
    ):
        return _NO_CHANGE
    item: dict[str, Any] = data
    own = item.get("id")
    key = own if type(own) is str else item_id
    if key is None:
        return _NO_CHANGE
    return (kind, stream, group, item_id, timestamp, data, key)


def decode_message(message: Any, raw: str | bytes) -> Frame:
    """Check a parsed message field by field; every way it can be wrong has its reason."""
    if type(message) is MalformedFrame:
        malformed: MalformedFrame = message
        return malformed
    if type(message) is not dict:
        return MalformedFrame("not a JSON object", _preview(raw))
    stream = message.get("streamName")
    group = message.get("groupId")
    event = message.get("event")
    timestamp = message.get("timestamp")
    item_id = message.get("id")
    if type(stream) is not str or type(group) is not str:
        return MalformedFrame("streamName and groupId must be strings", _preview(raw))
    if type(event) is not dict:
        return MalformedFrame("event must be an object", _preview(raw))
    if type(timestamp) is not int:
        if type(timestamp) is float and timestamp.is_integer():
            timestamp = int(timestamp)
        else:
            return MalformedFrame("timestamp must be integer milliseconds", _preview(raw))
    if item_id is not None and type(item_id) is not str:
        return MalformedFrame("id must be a string or null", _preview(raw))
    kind = event.get("type")
    if type(kind) is not str:  # a list or object type is unhashable: never look it up
        return MalformedFrame(f"unknown event type {kind!r:.60}", _preview(raw))
    if kind in _STATE_KINDS:
        state_kind: StateKind = kind  # type: ignore[assignment]  # checked just above
        return _decode_state(state_kind, stream, group, item_id, timestamp, event.get("data"), raw)
    if kind == "event":
        return _decode_custom(stream, group, item_id, timestamp, event.get("event"), raw)
    if kind == "unauthorized":
        return Refusal(stream, group, item_id, timestamp, None)
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
    if name == "error" and type(data) is dict and data.get("code") == ACCESS_DENIED:
        message = data.get("message")
        return Refusal(stream, group, item_id, timestamp, message if type(message) is str else None)
    return CustomEvent(stream, group, item_id, timestamp, name, data)
