"""The frame codec: PROTOCOL.md sections 3 and 4, both server dialects.

Every decoding case runs twice: with orjson and with the stdlib fallback, so a
machine without the ``fast`` extra decodes exactly the same frames.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from motia_client import _protocol
from motia_client._protocol import (
    CustomEvent,
    Frame,
    MalformedFrame,
    Refusal,
    StateFrame,
    decode_frame,
    dumps,
    encode_join,
    encode_leave,
)

TS = 1763750000123
TODO = {"id": "todo-1", "description": "buy milk", "_createdAt": 1763750000000}


@pytest.fixture(params=["orjson", "stdlib"], autouse=True)
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test with the fast decoder and with the stdlib fallback."""
    if request.param == "stdlib":
        monkeypatch.setattr(_protocol, "loads", _protocol._stdlib_loads)
    return str(request.param)


def envelope(event: Any, *, item_id: str | None = None, iii: bool = False, **extra: Any) -> str:
    """A server frame as PROTOCOL.md section 4 draws it (0.x, or iii with ``type: stream``)."""
    message: dict[str, Any] = {}
    if iii:
        message["type"] = "stream"
    message.update(timestamp=TS, streamName="todo", groupId="inbox")
    if item_id is not None or iii:
        message["id"] = item_id  # iii serializes a missing id as null; 0.x omits it
    message["event"] = event
    message.update(extra)
    return json.dumps(message)


def state(kind: str, data: Any, item_id: str | None, key: str | None) -> StateFrame:
    return StateFrame(kind, "todo", "inbox", item_id, TS, data, key)  # type: ignore[arg-type]


DENIED = {"code": "STREAM_ACCESS_DENIED", "message": "Access denied"}

# (name, raw frame, expected decode). Both dialects, every event kind of the table.
DECODED: list[tuple[str, str | bytes, Frame]] = [
    # -- state events, 0.x dialect (no top-level type, group frames without id)
    (
        "0.x group sync",
        envelope({"type": "sync", "data": [TODO, {"id": "todo-2"}]}),
        state("sync", [TODO, {"id": "todo-2"}], None, None),
    ),
    (
        "0.x item sync",
        envelope({"type": "sync", "data": TODO}, item_id="todo-1"),
        state("sync", TODO, "todo-1", "todo-1"),
    ),
    (
        "0.x create",
        envelope({"type": "create", "data": TODO}, item_id="todo-1"),
        state("create", TODO, "todo-1", "todo-1"),
    ),
    (
        "0.x update",
        envelope({"type": "update", "data": TODO}, item_id="todo-1"),
        state("update", TODO, "todo-1", "todo-1"),
    ),
    (
        "0.x delete with its last value",
        envelope({"type": "delete", "data": TODO}, item_id="todo-1"),
        state("delete", TODO, "todo-1", "todo-1"),
    ),
    (
        "0.x delete of a missing id (data null) keys by the envelope id",
        envelope({"type": "delete", "data": None}, item_id="todo-9"),
        state("delete", None, "todo-9", "todo-9"),
    ),
    (
        "item without its own id is keyed by the envelope id",
        envelope({"type": "update", "data": {"text": "hi"}}, item_id="message"),
        state("update", {"text": "hi"}, "message", "message"),
    ),
    (
        "the item's own id wins over the envelope id",
        envelope({"type": "update", "data": TODO}, item_id="other"),
        state("update", TODO, "other", "todo-1"),
    ),
    (
        "a non-string item id falls back to the envelope id",
        envelope({"type": "update", "data": {"id": 7}}, item_id="seven"),
        state("update", {"id": 7}, "seven", "seven"),
    ),
    (
        "an empty group sync",
        envelope({"type": "sync", "data": []}),
        state("sync", [], None, None),
    ),
    # -- iii dialect: top-level "type": "stream", id serialized as null
    (
        "iii group sync (id null)",
        envelope({"type": "sync", "data": [TODO]}, iii=True),
        state("sync", [TODO], None, None),
    ),
    (
        "iii item sync of a missing item (data null)",
        envelope({"type": "sync", "data": None}, item_id="todo-1", iii=True),
        state("sync", None, "todo-1", "todo-1"),
    ),
    (
        "iii update",
        envelope({"type": "update", "data": TODO}, item_id="todo-1", iii=True),
        state("update", TODO, "todo-1", "todo-1"),
    ),
    (
        "iii delete",
        envelope({"type": "delete", "data": None}, item_id="todo-1", iii=True),
        state("delete", None, "todo-1", "todo-1"),
    ),
    # -- custom events
    (
        "custom event to a group",
        envelope({"type": "event", "event": {"type": "ping", "data": {"n": 1}}}),
        CustomEvent("todo", "inbox", None, TS, "ping", {"n": 1}),
    ),
    (
        "custom event to an item",
        envelope({"type": "event", "event": {"type": "token", "data": "hel"}}, item_id="m"),
        CustomEvent("todo", "inbox", "m", TS, "token", "hel"),
    ),
    (
        "custom event without data",
        envelope({"type": "event", "event": {"type": "done"}}, iii=True),
        CustomEvent("todo", "inbox", None, TS, "done", None),
    ),
    (
        "0.x Redis echo: a custom event named update stays a custom event",
        envelope({"type": "event", "event": {"type": "update", "data": TODO}}, item_id="todo-1"),
        CustomEvent("todo", "inbox", "todo-1", TS, "update", TODO),
    ),
    (
        "an error event that is not an access denial stays a custom event",
        envelope({"type": "event", "event": {"type": "error", "data": {"code": "OTHER"}}}),
        CustomEvent("todo", "inbox", None, TS, "error", {"code": "OTHER"}),
    ),
    # -- refusals, both dialects
    (
        "iii unauthorized (group join)",
        envelope({"type": "unauthorized"}, iii=True),
        Refusal("todo", "inbox", None, TS, None),
    ),
    (
        "iii unauthorized (item join)",
        envelope({"type": "unauthorized"}, item_id="todo-1", iii=True),
        Refusal("todo", "inbox", "todo-1", TS, None),
    ),
    (
        "0.x STREAM_ACCESS_DENIED is a refusal, not a custom event",
        envelope({"type": "event", "event": {"type": "error", "data": DENIED}}),
        Refusal("todo", "inbox", None, TS, "Access denied"),
    ),
    (
        "0.x access denied on an item join, without a message",
        envelope(
            {"type": "event", "event": {"type": "error", "data": {"code": "STREAM_ACCESS_DENIED"}}},
            item_id="todo-1",
        ),
        Refusal("todo", "inbox", "todo-1", TS, None),
    ),
    # -- envelope tolerance
    (
        "unknown top-level keys are ignored",
        envelope({"type": "update", "data": TODO}, item_id="todo-1", iii=True, trace="x", v=2),
        state("update", TODO, "todo-1", "todo-1"),
    ),
    (
        "binary frame with the same JSON",
        envelope({"type": "update", "data": TODO}, item_id="todo-1").encode(),
        state("update", TODO, "todo-1", "todo-1"),
    ),
    (
        "non-ASCII text survives in a binary frame",
        envelope({"type": "update", "data": {"id": "é", "t": "ça ✓"}}, item_id="é").encode(),
        state("update", {"id": "é", "t": "ça ✓"}, "é", "é"),
    ),
    (
        "integral float timestamp",
        envelope({"type": "delete", "data": None}, item_id="x", timestamp=float(TS)),
        state("delete", None, "x", "x"),
    ),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in DECODED], ids=[c[0] for c in DECODED])
def test_decode_table(raw: str | bytes, expected: Frame) -> None:
    decoded = decode_frame(raw)
    assert decoded == expected
    assert type(decoded) is type(expected)


def frame_with(**fields: Any) -> str:
    base: dict[str, Any] = {
        "timestamp": TS,
        "streamName": "todo",
        "groupId": "inbox",
        "id": "todo-1",
        "event": {"type": "update", "data": TODO},
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not _DROP})


_DROP = object()
DEEP = "[" * 100_000 + "]" * 100_000

# (name, raw frame, words the MalformedFrame reason must contain)
MALFORMED: list[tuple[str, str | bytes, str]] = [
    ("not JSON", "hello", "not JSON"),
    ("truncated JSON", frame_with()[:-3], "not JSON"),
    ("empty frame", "", "not JSON"),
    ("invalid UTF-8 in a binary frame", b'{"timestamp": 1, "x": "\xff\xfe"}', "not JSON"),
    ("NaN is not JSON", frame_with().replace('"buy milk"', "NaN"), "not JSON"),
    ("Infinity is not JSON", frame_with().replace('"buy milk"', "-Infinity"), "not JSON"),
    ("deeply nested", DEEP, "not JSON"),
    ("deeply nested inside the data", frame_with()[:-2] + ', "x": ' + DEEP + "}}", "not JSON"),
    ("a JSON array", "[1, 2]", "not a JSON object"),
    ("a JSON string", '"update"', "not a JSON object"),
    ("JSON null", "null", "not a JSON object"),
    ("missing streamName", frame_with(streamName=_DROP), "streamName"),
    ("numeric groupId", frame_with(groupId=3), "groupId"),
    ("missing event", frame_with(event=_DROP), "event"),
    ("event is a string", frame_with(event="update"), "event"),
    ("missing timestamp", frame_with(timestamp=_DROP), "timestamp"),
    ("string timestamp", frame_with(timestamp="1763750000123"), "timestamp"),
    ("fractional timestamp", frame_with(timestamp=1.5), "timestamp"),
    ("boolean timestamp", frame_with(timestamp=True), "timestamp"),
    ("numeric id", frame_with(id=5), "id"),
    ("unknown event type", frame_with(event={"type": "patch", "data": TODO}), "patch"),
    ("event without type", frame_with(event={"data": TODO}), "unknown event type"),
    ("event type is a list", frame_with(event={"type": ["update"]}), "unknown event type"),
    ("event type is an object", frame_with(event={"type": {"a": 1}}), "unknown event type"),
    ("update with a list", frame_with(event={"type": "update", "data": [TODO]}), "object"),
    ("update with null data", frame_with(event={"type": "update", "data": None}), "object"),
    ("create with a string", frame_with(event={"type": "create", "data": "x"}), "object"),
    (
        "update naming no id",
        frame_with(id=None, event={"type": "update", "data": {"t": 1}}),
        "no item id",
    ),
    (
        "delete null naming no id",
        frame_with(id=None, event={"type": "delete", "data": None}),
        "no item id",
    ),
    ("group sync of an object", frame_with(id=None, event={"type": "sync", "data": TODO}), "list"),
    ("group sync of null", frame_with(id=None, event={"type": "sync", "data": None}), "list"),
    (
        "group sync with a non-object item",
        frame_with(id=None, event={"type": "sync", "data": [TODO, 3]}),
        "list of objects",
    ),
    ("item sync of a list", frame_with(event={"type": "sync", "data": [TODO]}), "object or null"),
    ("custom event without inner event", frame_with(event={"type": "event"}), "event.type"),
    (
        "custom event with a numeric name",
        frame_with(event={"type": "event", "event": {"type": 1}}),
        "event.type",
    ),
]


@pytest.mark.parametrize(
    ("raw", "reason"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_frames_decode_to_a_value_and_never_raise(raw: str | bytes, reason: str) -> None:
    decoded = decode_frame(raw)
    assert isinstance(decoded, MalformedFrame)
    assert reason in decoded.reason


def test_malformed_preview_is_short_and_readable() -> None:
    raw = b"\xff" + b"x" * 1000
    decoded = decode_frame(raw)
    assert isinstance(decoded, MalformedFrame)
    assert decoded.preview.endswith("...")
    assert len(decoded.preview) <= 130
    assert decoded.preview.startswith("\ufffd")  # bytes are shown, replaced where invalid


def test_encode_join_group_omits_id_and_uses_a_fresh_uuid4() -> None:
    first, first_id = encode_join("todo", "inbox")
    second, second_id = encode_join("todo", "inbox")
    assert first_id != second_id
    for text, sub_id in ((first, first_id), (second, second_id)):
        assert uuid.UUID(sub_id).version == 4
        message = json.loads(text)
        assert message == {
            "type": "join",
            "data": {"streamName": "todo", "groupId": "inbox", "subscriptionId": sub_id},
        }


def test_encode_join_item_carries_the_id() -> None:
    text, sub_id = encode_join("openai", "trace-1", "message")
    assert json.loads(text) == {
        "type": "join",
        "data": {
            "streamName": "openai",
            "groupId": "trace-1",
            "id": "message",
            "subscriptionId": sub_id,
        },
    }


@pytest.mark.parametrize("item_id", [None, "message"])
def test_encode_leave_mirrors_its_join(item_id: str | None) -> None:
    join, sub_id = encode_join("openai", "trace-1", item_id)
    leave = json.loads(encode_leave("openai", "trace-1", item_id, sub_id))
    assert leave["type"] == "leave"
    assert leave["data"] == json.loads(join)["data"]


def test_client_frames_are_compact_utf8_json_text() -> None:
    text, _ = encode_join("flux", "équipe ✓")
    assert isinstance(text, str)
    assert "équipe ✓" in text  # not \u-escaped
    assert ": " not in text
    assert ", " not in text
    assert json.loads(text)["data"]["groupId"] == "équipe ✓"


def test_dumps_and_loads_round_trip() -> None:
    value = {"a": [1, 2.5, None, True], "b": "ü"}
    assert _protocol.loads(dumps(value)) == value
    assert _protocol.loads(dumps(value).encode()) == value
