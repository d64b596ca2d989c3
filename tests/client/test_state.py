"""The item and group reducers: one test per rule of PROTOCOL.md section 5.

Frames are built as a server sends them and decoded, so the keys the reducers
see are the ones ``decode_frame`` derives (item ``id``, else envelope ``id``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from motia_client._protocol import StateFrame, decode_frame
from motia_client._state import GroupDelta, GroupState, ItemState, Op


def frame(kind: str, ts: int, data: Any, item_id: str | None = None) -> StateFrame:
    message: dict[str, Any] = {"timestamp": ts, "streamName": "todo", "groupId": "inbox"}
    if item_id is not None:
        message["id"] = item_id
    message["event"] = {"type": kind, "data": data}
    decoded = decode_frame(json.dumps(message))
    assert isinstance(decoded, StateFrame), decoded
    return decoded


def todo(item_id: str, text: str = "", **extra: Any) -> dict[str, Any]:
    return {"id": item_id, "text": text, **extra}


def put(kind: str, ts: int, item: dict[str, Any]) -> StateFrame:
    return frame(kind, ts, item, item["id"])


# -- item subscriptions -----------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "create", "update"])
def test_item_sync_create_update_set_the_value(kind: str) -> None:
    state = ItemState()
    assert state.apply(frame(kind, 10, todo("m", "hi"), "m")) is True
    assert state.value == todo("m", "hi")
    assert state.synced


def test_item_delete_clears_the_value() -> None:
    state = ItemState()
    state.apply(frame("sync", 10, todo("m", "hi"), "m"))
    assert state.apply(frame("delete", 11, todo("m", "hi"), "m")) is True
    assert state.value is None


def test_item_null_sync_of_a_missing_item_is_a_first_change() -> None:
    state = ItemState()
    assert not state.synced
    assert state.apply(frame("sync", 10, None, "m")) is True  # listeners learn "no item yet"
    assert state.synced
    assert state.value is None
    assert state.apply(frame("sync", 11, None, "m")) is False


def test_item_equal_timestamps_apply_in_arrival_order() -> None:
    state = ItemState()
    for n, text in enumerate(["He", "Hel", "Hell", "Hello"]):
        assert state.apply(frame("update", 5, {"text": text}, "message")) is True, n
    assert state.value == {"text": "Hello"}


def test_item_strictly_older_frame_is_dropped() -> None:
    state = ItemState()
    state.apply(frame("update", 20, {"text": "new"}, "m"))
    assert state.apply(frame("update", 19, {"text": "old"}, "m")) is False
    assert state.value == {"text": "new"}


def test_item_older_update_does_not_resurrect_a_deleted_item() -> None:
    state = ItemState()
    state.apply(frame("sync", 10, todo("m"), "m"))
    state.apply(frame("delete", 30, None, "m"))
    assert state.apply(frame("update", 25, todo("m", "late"), "m")) is False
    assert state.value is None
    assert state.apply(frame("create", 31, todo("m", "again"), "m")) is True
    assert state.value == todo("m", "again")


def test_item_exact_duplicate_reports_no_change() -> None:
    state = ItemState()
    assert state.apply(frame("update", 10, todo("m", "x"), "m")) is True
    assert state.apply(frame("update", 10, todo("m", "x"), "m")) is False
    assert state.apply(frame("update", 11, todo("m", "x"), "m")) is False  # same value, later
    assert state.value == todo("m", "x")


# -- group subscriptions ----------------------------------------------------


def synced_group(*items: dict[str, Any], ts: int = 100) -> GroupState:
    group = GroupState()
    group.apply(frame("sync", ts, list(items)))
    return group


def test_group_sync_replaces_everything() -> None:
    group = synced_group(todo("a"), todo("b"))
    delta = group.apply(frame("sync", 101, [todo("c")]))
    assert delta is not None
    assert delta.op == Op.RESET
    assert delta.new == {"c": todo("c")}
    assert delta.old == {"a": todo("a"), "b": todo("b")}
    assert group.items == {"c": todo("c")}


def test_group_first_empty_sync_is_a_change_and_a_repeat_is_not() -> None:
    group = GroupState()
    assert not group.synced
    assert group.apply(frame("sync", 1, [])) is not None
    assert group.synced
    assert group.apply(frame("sync", 2, [])) is None


def test_group_identical_resync_notifies_nobody() -> None:
    group = synced_group(todo("a", "x"), todo("b", "y"))
    assert group.apply(frame("sync", 101, [todo("a", "x"), todo("b", "y")])) is None


def test_group_resync_with_the_same_items_reordered_changes_the_natural_order() -> None:
    # The server's order is the group's natural order: a reordered resync is a change.
    group = synced_group(todo("a", "x"), todo("b", "y"))
    assert group.apply(frame("sync", 101, [todo("b", "y"), todo("a", "x")])) is not None
    assert list(group.items) == ["b", "a"]


@pytest.mark.parametrize(
    "items",
    [
        [todo("a", "x"), todo("b", "changed")],  # a value differs, same order
        [todo("b", "changed"), todo("a", "x")],  # a value differs, order differs
        [todo("a", "x"), todo("c", "y")],  # a key differs
        [todo("a", "x")],  # an item is gone
    ],
)
def test_group_resync_that_differs_is_a_change(items: list[dict[str, Any]]) -> None:
    group = synced_group(todo("a", "x"), todo("b", "y"))
    delta = group.apply(frame("sync", 101, items))
    assert delta is not None
    assert group.items == {item["id"]: item for item in items}


def test_group_resync_is_compared_with_the_state_items_were_upserted_into() -> None:
    group = synced_group(todo("a", "x"))
    group.apply(put("update", 101, todo("b", "y")))
    assert group.apply(frame("sync", 102, [todo("a", "x"), todo("b", "y")])) is None
    group.apply(frame("update", 103, {"text": "no own id"}, "c"))  # keyed by the envelope id
    assert group.apply(frame("sync", 104, [todo("a", "x"), todo("b", "y")])) is not None
    assert group.items == {"a": todo("a", "x"), "b": todo("b", "y")}


def test_group_sync_skips_items_without_a_string_id_and_keeps_first_place() -> None:
    group = GroupState()
    data = [todo("a", "1"), {"text": "no id"}, {"id": 7}, todo("b"), todo("a", "2")]
    assert group.apply(frame("sync", 1, data)) is not None
    assert list(group.items) == ["a", "b"]
    assert group.items["a"] == todo("a", "2")  # a repeated id: first place, last value


def test_group_resync_too_deeply_nested_to_compare_is_a_change() -> None:
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = [deep]
    group = GroupState()
    group.apply(StateFrame("sync", "todo", "inbox", None, 1, [todo("a", nested=deep)], None))
    again = StateFrame("sync", "todo", "inbox", None, 2, [todo("a", nested=deep)], None)
    assert group.apply(again) is None  # the very same objects: equal by identity
    other: Any = "leaf"
    for _ in range(100_000):
        other = [other]
    changed = StateFrame("sync", "todo", "inbox", None, 3, [todo("a", nested=other)], None)
    assert group.apply(changed) is not None


def test_group_sync_older_than_the_last_sync_is_dropped() -> None:
    group = synced_group(todo("a", "new"), ts=100)
    assert group.apply(frame("sync", 99, [todo("a", "old")])) is None
    assert group.items == {"a": todo("a", "new")}


def test_group_sync_with_the_same_timestamp_applies() -> None:
    group = synced_group(todo("a"), ts=100)
    assert group.apply(frame("sync", 100, [todo("b")])) is not None
    assert group.items == {"b": todo("b")}


def test_group_sync_drops_updates_older_than_itself() -> None:
    group = synced_group(todo("a", "synced"), ts=100)
    assert group.apply(put("update", 99, todo("a", "stale"))) is None
    assert group.apply(put("create", 99, todo("z"))) is None
    assert group.items == {"a": todo("a", "synced")}


def test_group_create_inserts() -> None:
    group = synced_group(todo("a"))
    assert group.apply(put("create", 101, todo("b"))) == GroupDelta(Op.UPSERT, "b", None, todo("b"))
    assert list(group.items) == ["a", "b"]


def test_group_create_of_an_existing_id_updates_it() -> None:
    group = synced_group(todo("a", "v1"))
    delta = group.apply(put("create", 101, todo("a", "v2")))
    assert delta == GroupDelta(Op.UPSERT, "a", todo("a", "v1"), todo("a", "v2"))
    assert group.items == {"a": todo("a", "v2")}


def test_group_update_of_an_unknown_id_upserts() -> None:
    group = synced_group(todo("a"))
    delta = group.apply(put("update", 101, todo("new", "x")))
    assert delta == GroupDelta(Op.UPSERT, "new", None, todo("new", "x"))
    assert group.items["new"] == todo("new", "x")


def test_group_update_before_any_sync_is_kept() -> None:
    # iii inserts the subscriber before reading the sync: an update may race ahead.
    group = GroupState()
    assert group.apply(put("update", 5, todo("a", "early"))) is not None
    assert group.items == {"a": todo("a", "early")}


def test_group_update_keeps_the_item_in_place() -> None:
    group = synced_group(todo("a"), todo("b"), todo("c"))
    group.apply(put("update", 101, todo("a", "changed")))
    assert list(group.items) == ["a", "b", "c"]


def test_group_equal_timestamps_apply_in_arrival_order() -> None:
    group = synced_group(todo("a"))
    for text in ["t", "to", "tok", "toke", "token"]:
        assert group.apply(put("update", 101, todo("a", text))) is not None, text
    assert group.items["a"] == todo("a", "token")


def test_group_update_strictly_older_than_that_items_last_frame_is_dropped() -> None:
    group = synced_group(todo("a"), todo("b"))
    group.apply(put("update", 110, todo("a", "new")))
    assert group.apply(put("update", 109, todo("a", "old"))) is None
    assert group.items["a"] == todo("a", "new")
    # other items keep their own clocks
    assert group.apply(put("update", 105, todo("b", "fine"))) is not None
    assert group.items["b"] == todo("b", "fine")


def test_group_delete_removes_the_item() -> None:
    group = synced_group(todo("a"), todo("b"))
    delta = group.apply(put("delete", 101, todo("a")))
    assert delta == GroupDelta(Op.REMOVE, "a", todo("a"), None)
    assert group.items == {"b": todo("b")}


def test_group_delete_tombstone_stops_an_older_late_update() -> None:
    group = synced_group(todo("a"))
    group.apply(put("delete", 120, todo("a")))
    assert group.apply(put("update", 119, todo("a", "zombie"))) is None
    assert "a" not in group.items
    # a newer set brings it back
    assert group.apply(put("create", 121, todo("a", "reborn"))) is not None
    assert group.items["a"] == todo("a", "reborn")


def test_group_delete_of_a_missing_id_changes_nothing_but_remembers_it() -> None:
    group = synced_group(todo("a"))
    assert group.apply(frame("delete", 130, None, "ghost")) is None
    assert group.apply(put("update", 129, todo("ghost"))) is None
    assert group.items == {"a": todo("a")}


def test_group_delete_with_null_data_removes_the_envelope_id() -> None:
    group = synced_group(todo("a"), todo("b"))
    delta = group.apply(frame("delete", 101, None, "a"))
    assert delta == GroupDelta(Op.REMOVE, "a", todo("a"), None)
    assert group.items == {"b": todo("b")}


def test_group_items_are_keyed_by_their_id_else_by_the_envelope_id() -> None:
    group = synced_group()
    group.apply(frame("update", 101, {"id": "own", "v": 1}, "envelope"))
    group.apply(frame("update", 101, {"v": 2}, "message"))
    assert group.items == {"own": {"id": "own", "v": 1}, "message": {"v": 2}}
    # a later delete by the envelope id finds the item stored under it
    group.apply(frame("delete", 102, None, "message"))
    assert group.items == {"own": {"id": "own", "v": 1}}


def test_group_exact_duplicate_reports_no_change() -> None:
    group = synced_group(todo("a"))
    update = put("update", 101, todo("a", "x"))
    assert group.apply(update) is not None
    assert group.apply(update) is None
    assert group.apply(put("update", 101, todo("a", "x"))) is None  # an equal copy
    assert group.apply(put("delete", 102, todo("a", "x"))) is not None
    assert group.apply(put("delete", 102, todo("a", "x"))) is None


def test_group_resync_with_equal_items_reports_no_change() -> None:
    group = synced_group(todo("a"), todo("b"))
    assert group.apply(frame("sync", 200, [todo("a"), todo("b")])) is None
    # ...but it still moves the floor: older updates are now stale
    assert group.apply(put("update", 150, todo("a", "stale"))) is None
