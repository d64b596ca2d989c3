"""Wire encoding of frames in both dialects, refusal events, and the ms clock."""

from __future__ import annotations

import json

import pytest

from server_stub.frames import (
    Frame,
    FrameEncoder,
    MillisClock,
    Room,
    custom_event,
    not_found_events,
    refusal_event,
)


def decode(encoder: FrameEncoder, frame: Frame) -> dict[str, object] | None:
    text = encoder.encode(frame)
    return None if text is None else json.loads(text)


def test_motia_envelope_has_no_top_level_type() -> None:
    frame = Frame(123, "todo", "inbox", "t1", {"type": "update", "data": {"id": "t1"}})
    assert decode(FrameEncoder("motia"), frame) == {
        "timestamp": 123,
        "streamName": "todo",
        "groupId": "inbox",
        "id": "t1",
        "event": {"type": "update", "data": {"id": "t1"}},
    }


def test_iii_envelope_says_stream() -> None:
    frame = Frame(5, "todo", "inbox", None, {"type": "sync", "data": []})
    assert decode(FrameEncoder("iii"), frame) == {
        "type": "stream",
        "timestamp": 5,
        "streamName": "todo",
        "groupId": "inbox",
        "event": {"type": "sync", "data": []},
    }


def test_group_frames_have_no_id() -> None:
    frame = Frame(5, "s", "g", None, custom_event("ping", None))
    for dialect in ("motia", "iii"):
        decoded = decode(FrameEncoder(dialect), frame)
        assert decoded is not None
        assert "id" not in decoded


def test_missing_item_sync_is_silent_in_motia_and_null_in_iii() -> None:
    frame = Frame(5, "s", "g", "a", {"type": "sync", "data": None})
    assert FrameEncoder("motia").encode(frame) is None
    decoded = decode(FrameEncoder("iii"), frame)
    assert decoded is not None
    assert decoded["event"] == {"type": "sync", "data": None}


def test_delete_of_a_missing_item_is_still_sent_with_null() -> None:
    frame = Frame(5, "s", "g", "a", {"type": "delete", "data": None})
    decoded = decode(FrameEncoder("motia"), frame)
    assert decoded is not None
    assert decoded["event"] == {"type": "delete", "data": None}


def test_refusals_per_dialect() -> None:
    assert refusal_event("iii") == {"type": "unauthorized"}
    assert refusal_event("motia") == {
        "type": "event",
        "event": {
            "type": "error",
            "data": {"code": "STREAM_ACCESS_DENIED", "message": "Access denied"},
        },
    }
    assert not_found_events("iii", "todoo") == [{"type": "unauthorized"}]
    first, second = not_found_events("motia", "todoo")
    assert first["event"]["data"] == {
        "code": "STREAM_ACCESS_DENIED",
        "message": "Stream todoo not found",
    }
    assert second == refusal_event("motia")


def test_encoding_is_cached_for_the_same_frame_only() -> None:
    encoder = FrameEncoder("motia")
    frame = Frame(1, "s", "g", None, {"type": "sync", "data": []})
    first = encoder.encode(frame)
    assert encoder.encode(frame) is first
    equal = Frame(1, "s", "g", None, {"type": "sync", "data": [1]})
    assert encoder.encode(equal) != first


def test_unicode_travels_unescaped() -> None:
    frame = Frame(1, "s", "g", "a", {"type": "create", "data": {"t": "héllo ✓"}})
    text = FrameEncoder("motia").encode(frame)
    assert text is not None
    assert "héllo ✓" in text


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="dialect"):
        FrameEncoder("v2")  # type: ignore[arg-type]


def test_room_group_room() -> None:
    assert Room("s", "g", "a").group_room == Room("s", "g")
    assert Room("s", "g").group_room == Room("s", "g")
    assert Frame(1, "s", "g", "a", {}).room == Room("s", "g", "a")


def test_clock_is_integer_ms_and_never_goes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = MillisClock()
    times = iter([5_000_000_000, 4_000_000_000, 7_000_000_000])
    monkeypatch.setattr("server_stub.frames.time.time_ns", lambda: next(times))
    assert [clock.now(), clock.now(), clock.now()] == [5000, 5000, 7000]
