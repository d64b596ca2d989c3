"""The item and group reducers: one test per rule of PROTOCOL.md section 5.

Frames are built as a server sends them and decoded, so the keys the reducers
see are the ones ``decode_frame`` derives (item ``id``, else envelope ``id``),
and they are applied the way the session applies them: ``ItemState.apply``,
``GroupState.sync`` for a group sync, ``GroupState.change`` for the rest.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from motia_client._protocol import StateFrame, decode_frame
from motia_client._state import (
    NEVER,
    TOMBSTONE_LIMIT,
    TOMBSTONE_WINDOW_MS,
    GroupState,
    ItemState,
    Op,
)


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


def item_apply(state: ItemState, f: StateFrame) -> bool:
    return state.apply(f.kind, f.timestamp, f.data)


def group_apply(group: GroupState, f: StateFrame) -> int:
    """Apply ``f`` as the session does; return the reducer's ``Op``."""
    if f.kind == "sync":
        return group.sync(f.timestamp, f.data)
    assert f.key is not None
    return group.change(f.kind, f.key, f.timestamp, f.data)


def test_a_decoded_frame_compares_and_prints_by_its_fields() -> None:
    first = frame("update", 10, todo("m"), "m")
    assert first == frame("update", 10, todo("m"), "m")
    assert first != frame("update", 11, todo("m"), "m")
    assert first != ("update", 10)  # not a frame: never equal
    assert repr(first) == (
        "StateFrame(kind='update', stream='todo', group='inbox', item_id='m', timestamp=10, "
        "data={'id': 'm', 'text': ''}, key='m')"
    )


# -- item subscriptions -----------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "create", "update"])
def test_item_sync_create_update_set_the_value(kind: str) -> None:
    state = ItemState()
    assert item_apply(state, frame(kind, 10, todo("m", "hi"), "m")) is True
    assert state.value == todo("m", "hi")
    assert state.old is None
    assert state.synced


def test_item_delete_clears_the_value_and_keeps_the_old_one() -> None:
    state = ItemState()
    item_apply(state, frame("sync", 10, todo("m", "hi"), "m"))
    assert item_apply(state, frame("delete", 11, todo("m", "hi"), "m")) is True
    assert state.value is None
    assert state.old == todo("m", "hi")


def test_item_null_sync_of_a_missing_item_is_a_first_change() -> None:
    state = ItemState()
    assert not state.synced
    assert item_apply(state, frame("sync", 10, None, "m")) is True  # listeners learn "no item"
    assert state.synced
    assert state.value is None
    assert item_apply(state, frame("sync", 11, None, "m")) is False


def test_item_equal_timestamps_apply_in_arrival_order() -> None:
    state = ItemState()
    for n, text in enumerate(["He", "Hel", "Hell", "Hello"]):
        assert item_apply(state, frame("update", 5, {"text": text}, "message")) is True, n
    assert state.value == {"text": "Hello"}


def test_item_strictly_older_frame_is_dropped() -> None:
    state = ItemState()
    item_apply(state, frame("update", 20, {"text": "new"}, "m"))
    assert item_apply(state, frame("update", 19, {"text": "old"}, "m")) is False
    assert state.value == {"text": "new"}


def test_item_older_update_does_not_resurrect_a_deleted_item() -> None:
    state = ItemState()
    item_apply(state, frame("sync", 10, todo("m"), "m"))
    item_apply(state, frame("delete", 30, None, "m"))
    assert item_apply(state, frame("update", 25, todo("m", "late"), "m")) is False
    assert state.value is None
    assert item_apply(state, frame("create", 31, todo("m", "again"), "m")) is True
    assert state.value == todo("m", "again")


def test_item_exact_duplicate_reports_no_change() -> None:
    state = ItemState()
    assert item_apply(state, frame("update", 10, todo("m", "x"), "m")) is True
    assert item_apply(state, frame("update", 10, todo("m", "x"), "m")) is False
    assert item_apply(state, frame("update", 11, todo("m", "x"), "m")) is False  # later, same
    assert state.value == todo("m", "x")


def test_item_rebase_keeps_the_value_and_accepts_an_older_clock() -> None:
    # A new connection may reach another server process whose clock is behind.
    state = ItemState()
    item_apply(state, frame("update", 5000, todo("m", "before"), "m"))
    state.rebase()
    assert state.value == todo("m", "before")  # no flash of empty
    assert state.timestamp == NEVER
    assert item_apply(state, frame("sync", 10, todo("m", "after"), "m")) is True
    assert state.value == todo("m", "after")
    assert item_apply(state, frame("update", 9, todo("m", "stale"), "m")) is False


def test_item_value_too_deeply_nested_to_compare_counts_as_changed() -> None:
    deep: Any = "leaf"
    other: Any = "leaf"
    for _ in range(100_000):
        deep, other = [deep], [other]
    state = ItemState()
    assert state.apply("update", 1, {"nested": deep}) is True
    assert state.apply("update", 2, {"nested": other}) is True  # == would raise: a change
    assert state.value == {"nested": other}


# -- group subscriptions ----------------------------------------------------


def synced_group(*items: dict[str, Any], ts: int = 100) -> GroupState:
    group = GroupState()
    group_apply(group, frame("sync", ts, list(items)))
    return group


def test_group_sync_replaces_everything() -> None:
    group = synced_group(todo("a"), todo("b"))
    assert group_apply(group, frame("sync", 101, [todo("c")])) == Op.RESET
    assert group.items == {"c": todo("c")}
    assert group.old == {"a": todo("a"), "b": todo("b")}  # what the reset replaced


def test_group_first_empty_sync_is_a_change_and_a_repeat_is_not() -> None:
    group = GroupState()
    assert not group.synced
    assert group_apply(group, frame("sync", 1, [])) == Op.RESET
    assert group.synced
    assert group_apply(group, frame("sync", 2, [])) == Op.NONE


def test_group_identical_resync_notifies_nobody() -> None:
    group = synced_group(todo("a", "x"), todo("b", "y"))
    assert group_apply(group, frame("sync", 101, [todo("a", "x"), todo("b", "y")])) == Op.NONE


def test_group_resync_with_the_same_items_reordered_changes_the_natural_order() -> None:
    # The server's order is the group's natural order: a reordered resync is a change.
    group = synced_group(todo("a", "x"), todo("b", "y"))
    assert group_apply(group, frame("sync", 101, [todo("b", "y"), todo("a", "x")])) == Op.RESET
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
    assert group_apply(group, frame("sync", 101, items)) == Op.RESET
    assert group.items == {item["id"]: item for item in items}


def test_group_resync_is_compared_with_the_state_items_were_upserted_into() -> None:
    group = synced_group(todo("a", "x"))
    group_apply(group, put("update", 101, todo("b", "y")))
    assert group_apply(group, frame("sync", 102, [todo("a", "x"), todo("b", "y")])) == Op.NONE
    group_apply(group, frame("update", 103, {"text": "no own id"}, "c"))  # keyed by envelope id
    assert group_apply(group, frame("sync", 104, [todo("a", "x"), todo("b", "y")])) == Op.RESET
    assert group.items == {"a": todo("a", "x"), "b": todo("b", "y")}


def test_group_sync_skips_items_without_a_string_id_and_keeps_first_place() -> None:
    group = GroupState()
    data = [todo("a", "1"), {"text": "no id"}, {"id": 7}, todo("b"), todo("a", "2")]
    assert group_apply(group, frame("sync", 1, data)) == Op.RESET
    assert list(group.items) == ["a", "b"]
    assert group.items["a"] == todo("a", "2")  # a repeated id: first place, last value


def test_group_sync_with_a_repeated_id_keeps_its_first_place_and_last_value() -> None:
    group = GroupState()  # every id a string: the fast path
    group_apply(group, frame("sync", 1, [todo("a", "1"), todo("b"), todo("a", "2")]))
    assert list(group.items) == ["a", "b"]
    assert group.items["a"] == todo("a", "2")


def test_group_resync_too_deeply_nested_to_compare_is_a_change() -> None:
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = [deep]
    group = GroupState()
    group.sync(1, [todo("a", nested=deep)])
    assert group.sync(2, [todo("a", nested=deep)]) == Op.NONE  # the same objects: identical
    other: Any = "leaf"
    for _ in range(100_000):
        other = [other]
    assert group.sync(3, [todo("a", nested=other)]) == Op.RESET


def test_group_update_too_deeply_nested_to_compare_is_a_change() -> None:
    deep: Any = "leaf"
    other: Any = "leaf"
    for _ in range(100_000):
        deep, other = [deep], [other]
    group = synced_group()
    assert group.change("update", "a", 101, todo("a", nested=deep)) == Op.UPSERT
    assert group.change("update", "a", 102, todo("a", nested=other)) == Op.UPSERT


def test_group_sync_older_than_the_last_sync_is_dropped() -> None:
    group = synced_group(todo("a", "new"), ts=100)
    assert group_apply(group, frame("sync", 99, [todo("a", "old")])) == Op.NONE
    assert group.items == {"a": todo("a", "new")}


def test_group_sync_with_the_same_timestamp_applies() -> None:
    group = synced_group(todo("a"), ts=100)
    assert group_apply(group, frame("sync", 100, [todo("b")])) == Op.RESET
    assert group.items == {"b": todo("b")}


def test_group_sync_drops_updates_older_than_itself() -> None:
    group = synced_group(todo("a", "synced"), ts=100)
    assert group_apply(group, put("update", 99, todo("a", "stale"))) == Op.NONE
    assert group_apply(group, put("create", 99, todo("z"))) == Op.NONE
    assert group.items == {"a": todo("a", "synced")}
    assert group.stamp("a") == group.stamp("z") == 100  # the floor


def test_group_create_inserts() -> None:
    group = synced_group(todo("a"))
    assert group_apply(group, put("create", 101, todo("b"))) == Op.UPSERT
    assert group.old is None
    assert list(group.items) == ["a", "b"]
    assert group.stamp("b") == 101


def test_group_create_of_an_existing_id_updates_it() -> None:
    group = synced_group(todo("a", "v1"))
    assert group_apply(group, put("create", 101, todo("a", "v2"))) == Op.UPSERT
    assert group.old == todo("a", "v1")
    assert group.items == {"a": todo("a", "v2")}


def test_group_update_of_an_unknown_id_upserts() -> None:
    group = synced_group(todo("a"))
    assert group_apply(group, put("update", 101, todo("new", "x"))) == Op.UPSERT
    assert group.old is None
    assert group.items["new"] == todo("new", "x")


def test_group_update_before_any_sync_is_kept() -> None:
    # iii inserts the subscriber before reading the sync: an update may race ahead.
    group = GroupState()
    assert group_apply(group, put("update", 5, todo("a", "early"))) == Op.UPSERT
    assert group.items == {"a": todo("a", "early")}
    assert not group.synced


def test_group_update_keeps_the_item_in_place() -> None:
    group = synced_group(todo("a"), todo("b"), todo("c"))
    group_apply(group, put("update", 101, todo("a", "changed")))
    assert list(group.items) == ["a", "b", "c"]


def test_group_equal_timestamps_apply_in_arrival_order() -> None:
    group = synced_group(todo("a"))
    for text in ["t", "to", "tok", "toke", "token"]:
        assert group_apply(group, put("update", 101, todo("a", text))) == Op.UPSERT, text
    assert group.items["a"] == todo("a", "token")


def test_group_update_strictly_older_than_that_items_last_frame_is_dropped() -> None:
    group = synced_group(todo("a"), todo("b"))
    group_apply(group, put("update", 110, todo("a", "new")))
    assert group_apply(group, put("update", 109, todo("a", "old"))) == Op.NONE
    assert group.items["a"] == todo("a", "new")
    # other items keep their own clocks
    assert group_apply(group, put("update", 105, todo("b", "fine"))) == Op.UPSERT
    assert group.items["b"] == todo("b", "fine")


def test_group_delete_removes_the_item() -> None:
    group = synced_group(todo("a"), todo("b"))
    assert group_apply(group, put("delete", 101, todo("a"))) == Op.REMOVE
    assert group.old == todo("a")
    assert group.items == {"b": todo("b")}


def test_group_delete_tombstone_stops_an_older_late_update() -> None:
    group = synced_group(todo("a"))
    group_apply(group, put("delete", 120, todo("a")))
    assert group_apply(group, put("update", 119, todo("a", "zombie"))) == Op.NONE
    assert "a" not in group.items
    assert group.stamp("a") == 120
    # a newer set brings it back
    assert group_apply(group, put("create", 121, todo("a", "reborn"))) == Op.UPSERT
    assert group.items["a"] == todo("a", "reborn")


def test_group_delete_of_a_missing_id_changes_nothing_but_remembers_it() -> None:
    group = synced_group(todo("a"))
    assert group_apply(group, frame("delete", 130, None, "ghost")) == Op.NONE
    assert group_apply(group, put("update", 129, todo("ghost"))) == Op.NONE
    assert group.items == {"a": todo("a")}


def test_group_delete_with_null_data_removes_the_envelope_id() -> None:
    group = synced_group(todo("a"), todo("b"))
    assert group_apply(group, frame("delete", 101, None, "a")) == Op.REMOVE
    assert group.old == todo("a")
    assert group.items == {"b": todo("b")}


def test_group_items_are_keyed_by_their_id_else_by_the_envelope_id() -> None:
    group = synced_group()
    group_apply(group, frame("update", 101, {"id": "own", "v": 1}, "envelope"))
    group_apply(group, frame("update", 101, {"v": 2}, "message"))
    assert group.items == {"own": {"id": "own", "v": 1}, "message": {"v": 2}}
    # a later delete by the envelope id finds the item stored under it
    group_apply(group, frame("delete", 102, None, "message"))
    assert group.items == {"own": {"id": "own", "v": 1}}


def test_group_exact_duplicate_reports_no_change() -> None:
    group = synced_group(todo("a"))
    update = put("update", 101, todo("a", "x"))
    assert group_apply(group, update) == Op.UPSERT
    assert group_apply(group, update) == Op.NONE
    assert group_apply(group, put("update", 101, todo("a", "x"))) == Op.NONE  # an equal copy
    assert group_apply(group, put("delete", 102, todo("a", "x"))) == Op.REMOVE
    assert group_apply(group, put("delete", 102, todo("a", "x"))) == Op.NONE


def test_group_resync_with_equal_items_still_moves_the_floor() -> None:
    group = synced_group(todo("a"), todo("b"))
    assert group_apply(group, frame("sync", 200, [todo("a"), todo("b")])) == Op.NONE
    assert group_apply(group, put("update", 150, todo("a", "stale"))) == Op.NONE


def test_group_sync_forgets_the_tombstones_before_it() -> None:
    group = synced_group(todo("a"))
    group_apply(group, put("delete", 120, todo("a")))
    group_apply(group, frame("sync", 130, []))
    assert group.stamp("a") == 130  # the sync's floor now guards every id


def test_group_rebase_keeps_the_items_and_accepts_an_older_clock() -> None:
    group = synced_group(todo("a", "before"), ts=5000)
    group_apply(group, put("update", 5001, todo("b")))
    group_apply(group, put("delete", 5002, todo("b")))
    group.rebase()  # a new connection, maybe to a server whose clock is behind
    assert group.items == {"a": todo("a", "before")}  # no flash of empty
    assert group.stamp("a") == group.stamp("b") == NEVER
    assert group_apply(group, put("update", 10, todo("a", "after"))) == Op.UPSERT
    assert group_apply(group, put("create", 10, todo("b", "reborn"))) == Op.UPSERT
    assert group_apply(group, frame("sync", 5, [todo("z")])) == Op.RESET


# -- tombstone bounds -----------------------------------------------------------------


def test_a_tombstone_is_forgotten_once_the_window_has_passed() -> None:
    group = synced_group(todo("a"), todo("b"), ts=0)
    group_apply(group, put("delete", 1000, todo("a")))
    assert group.stamp("a") == 1000
    # a delete TOMBSTONE_WINDOW_MS later: no frame older than the first delete can still arrive
    group_apply(group, put("delete", 1000 + TOMBSTONE_WINDOW_MS, todo("b")))
    assert group.stamp("a") == 1000  # exactly at the edge: kept
    group_apply(group, frame("delete", 1001 + TOMBSTONE_WINDOW_MS, None, "c"))
    assert group.stamp("a") == 0  # forgotten: the sync's floor again
    assert group.stamp("b") == 1000 + TOMBSTONE_WINDOW_MS


def test_tombstones_are_bounded_in_count() -> None:
    group = synced_group(ts=0)
    for n in range(TOMBSTONE_LIMIT + 5):  # a queue: create then delete, all in one millisecond
        assert group.change("create", f"q{n}", 10, {"id": f"q{n}"}) == Op.UPSERT
        assert group.change("delete", f"q{n}", 10, None) == Op.REMOVE
    assert group.items == {}
    assert [group.stamp(f"q{n}") for n in range(6)] == [0, 0, 0, 0, 0, 10]  # oldest 5 gone
    assert group.stamp(f"q{TOMBSTONE_LIMIT + 4}") == 10
    kept = sum(group.stamp(f"q{n}") == 10 for n in range(TOMBSTONE_LIMIT + 5))
    assert kept == TOMBSTONE_LIMIT


def test_a_deleted_again_id_moves_to_the_newest_tombstone() -> None:
    group = synced_group(ts=0)
    group.change("delete", "first", 10, None)
    for n in range(TOMBSTONE_LIMIT - 1):
        group.change("delete", f"q{n}", 10, None)
    group.change("delete", "first", 11, None)  # deleted again: now the newest
    group.change("delete", "last", 11, None)  # one over the limit: the oldest goes, not "first"
    assert group.stamp("first") == 11
    assert group.stamp("q0") == 0
    assert group.stamp("q1") == 10
