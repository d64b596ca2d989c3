"""Views: sort order, model validation and lazy immutable snapshots."""

from __future__ import annotations

import copy
import gc
import json
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from motia_client._exceptions import ItemValidationError
from motia_client._items import Items
from motia_client._protocol import StateFrame, decode_frame
from motia_client._state import GroupState, ItemState
from motia_client._views import GroupView, ItemView, sort_rank


class Todo(BaseModel):
    id: str
    text: str
    rank: int = 0


def frame(kind: str, ts: int, data: Any, item_id: str | None = None) -> StateFrame:
    message: dict[str, Any] = {"timestamp": ts, "streamName": "todo", "groupId": "inbox"}
    if item_id is not None:
        message["id"] = item_id
    message["event"] = {"type": kind, "data": data}
    decoded = decode_frame(json.dumps(message))
    assert isinstance(decoded, StateFrame), decoded
    return decoded


class Group:
    """A group reducer with views, driven the way the router drives them."""

    def __init__(self) -> None:
        self.state = GroupState()
        self.views: list[GroupView[Any]] = []
        self.ts = 0

    def view(self, sort_key: str | None = None, model: type[BaseModel] | None = None) -> Any:
        view: GroupView[Any] = GroupView(self.state, sort_key, model)
        self.views.append(view)
        return view

    def apply(self, f: StateFrame) -> list[list[ItemValidationError]]:
        for view in self.views:
            view.freeze()
        delta = self.state.apply(f)
        if delta is None:
            return []
        return [view.apply(delta) for view in self.views]

    def _next(self) -> int:
        self.ts += 1
        return self.ts

    def sync(self, *items: dict[str, Any]) -> list[list[ItemValidationError]]:
        return self.apply(frame("sync", self._next(), list(items)))

    def set(self, item: dict[str, Any]) -> list[list[ItemValidationError]]:
        return self.apply(frame("update", self._next(), item, item["id"]))

    def delete(self, item_id: str) -> list[list[ItemValidationError]]:
        return self.apply(frame("delete", self._next(), None, item_id))


def ids(view: GroupView[Any]) -> list[str]:
    return [item["id"] if isinstance(item, dict) else item.id for item in view.snapshot()]


# -- order ------------------------------------------------------------------


def test_without_sort_key_items_keep_sync_then_arrival_order() -> None:
    group = Group()
    view = group.view()
    group.sync({"id": "c"}, {"id": "a"}, {"id": "b"})
    group.set({"id": "d"})
    group.set({"id": "a", "text": "edited"})  # an update keeps its place
    assert ids(view) == ["c", "a", "b", "d"]
    group.delete("a")
    group.set({"id": "a"})  # deleted then set again: it is new, so it comes last
    assert ids(view) == ["c", "b", "d", "a"]


def test_sort_key_orders_with_ties_and_missing_values_stable() -> None:
    group = Group()
    view = group.view(sort_key="at")
    group.sync(
        {"id": "a", "at": "2"},
        {"id": "b", "at": "1"},
        {"id": "m1"},
        {"id": "c", "at": "2"},
        {"id": "n", "at": None},
        {"id": "e", "at": "1"},
    )
    assert ids(view) == ["b", "e", "a", "c", "m1", "n"]
    group.set({"id": "f", "at": "1"})  # a new tie goes after the older ties
    group.set({"id": "m2"})
    assert ids(view) == ["b", "e", "f", "a", "c", "m1", "n", "m2"]


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_a_large_resync_in_order_or_shuffled_gives_the_same_order(seed: int | None) -> None:
    items = [{"id": f"i{n:04d}", "at": f"{n // 3:04d}"} for n in range(3000)]  # ties of 3
    if seed is not None:
        random.Random(seed).shuffle(items)
    group = Group()
    view = group.view(sort_key="at")
    group.sync(*items)
    position = {item["id"]: n for n, item in enumerate(items)}  # ties keep sync order
    expected = sorted(items, key=lambda item: (item["at"], position[item["id"]]))
    assert ids(view) == [item["id"] for item in expected]
    view._index._check()  # the index is a well-formed SortedList
    assert list(view._index) == sorted(view._sort_keys.values())
    group.set({"id": "i0001", "at": "9999"})  # and follows updates afterwards
    group.set({"id": "new", "at": "0000"})
    assert ids(view)[-1] == "i0001"
    assert ids(view).index("new") == 2  # after the two "0000" ties left, i0000 and i0002
    view._index._check()


def test_a_resync_with_mixed_sort_values_takes_the_general_path() -> None:
    group = Group()
    view = group.view(sort_key="at")
    group.sync({"id": "a", "at": "b"}, {"id": "b", "at": 2}, {"id": "c", "at": "a"}, {"id": "d"})
    assert ids(view) == ["b", "c", "a", "d"]
    view._index._check()


def test_an_empty_resync_empties_the_index() -> None:
    group = Group()
    view = group.view(sort_key="at")
    group.sync({"id": "a", "at": "1"})
    group.sync()
    assert ids(view) == []
    group.set({"id": "b", "at": "2"})
    assert ids(view) == ["b"]
    view._index._check()


def test_sort_key_strings_compare_by_code_point_like_the_js_clients() -> None:
    group = Group()
    view = group.view(sort_key="k")
    group.sync({"id": "1", "k": "b"}, {"id": "2", "k": "B"}, {"id": "3", "k": "a"})
    assert ids(view) == ["2", "3", "1"]  # "B" < "a" < "b"


def test_sort_key_mixed_types_never_raise_and_group_by_kind() -> None:
    group = Group()
    view = group.view(sort_key="k")
    group.sync(
        {"id": "str10", "k": "10"},
        {"id": "obj", "k": {"x": 1}},
        {"id": "int3", "k": 3},
        {"id": "none", "k": None},
        {"id": "true", "k": True},
        {"id": "list", "k": [1]},
        {"id": "float2.5", "k": 2.5},
        {"id": "int10", "k": 10},
        {"id": "strabc", "k": "abc"},
        {"id": "absent"},
    )
    # numbers as numbers, then strings, then other values by their text, then missing
    assert ids(view) == [
        "float2.5",
        "int3",
        "int10",
        "str10",
        "strabc",
        "true",
        "list",
        "obj",
        "none",
        "absent",
    ]


def test_sort_rank_is_total_over_json_values() -> None:
    values: list[Any] = [None, True, 0, -1.5, "", "z", [], {}, [None], 10**30]
    ranks = sorted(sort_rank(v) for v in values)  # would raise on an incomparable pair
    assert ranks[0] == sort_rank(-1.5)
    assert ranks[-1] == sort_rank(None)


def test_changing_the_sort_value_moves_the_item() -> None:
    group = Group()
    view = group.view(sort_key="rank")
    group.sync(*({"id": name, "rank": n} for n, name in enumerate("abcde")))
    group.set({"id": "a", "rank": 10})
    assert ids(view) == ["b", "c", "d", "e", "a"]
    group.set({"id": "e", "rank": -1})
    assert ids(view) == ["e", "b", "c", "d", "a"]
    group.set({"id": "c"})  # the sort field removed: it sorts last
    assert ids(view) == ["e", "b", "d", "a", "c"]


def test_an_update_that_keeps_the_sort_value_keeps_the_tie_order() -> None:
    group = Group()
    view = group.view(sort_key="day")
    group.sync({"id": "a", "day": "mon"}, {"id": "b", "day": "mon"}, {"id": "c", "day": "mon"})
    group.set({"id": "a", "day": "mon", "text": "edited"})
    assert ids(view) == ["a", "b", "c"]
    assert view.snapshot()[0]["text"] == "edited"


def test_an_item_moved_back_to_a_tie_keeps_its_original_tie_place() -> None:
    group = Group()
    view = group.view(sort_key="day")
    group.sync({"id": "a", "day": "mon"}, {"id": "b", "day": "mon"})
    group.set({"id": "a", "day": "tue"})
    group.set({"id": "a", "day": "mon"})
    assert ids(view) == ["a", "b"]


def test_delete_removes_the_item_from_the_order() -> None:
    group = Group()
    view = group.view(sort_key="rank")
    group.sync({"id": "a", "rank": 2}, {"id": "b", "rank": 1})
    group.delete("b")
    assert ids(view) == ["a"]
    assert len(view) == 1


def test_resync_rebuilds_the_order() -> None:
    group = Group()
    view = group.view(sort_key="rank")
    group.sync({"id": "a", "rank": 1}, {"id": "b", "rank": 2})
    group.sync({"id": "c", "rank": 3}, {"id": "b", "rank": 0})
    assert ids(view) == ["b", "c"]
    group.set({"id": "d", "rank": 0})
    assert ids(view) == ["b", "d", "c"]


def test_views_on_one_room_have_their_own_order() -> None:
    group = Group()
    by_rank = group.view(sort_key="rank")
    by_name = group.view(sort_key="name")
    plain = group.view()
    group.sync({"id": "1", "rank": 2, "name": "a"}, {"id": "2", "rank": 1, "name": "b"})
    assert ids(by_rank) == ["2", "1"]
    assert ids(by_name) == ["1", "2"]
    assert ids(plain) == ["1", "2"]


def test_a_late_view_starts_from_the_current_state() -> None:
    group = Group()
    group.view()
    group.sync({"id": "a", "rank": 2}, {"id": "b", "rank": 1})
    group.set({"id": "c", "rank": 0})
    late = group.view(sort_key="rank")
    assert late.synced
    assert ids(late) == ["c", "b", "a"]
    group.set({"id": "d", "rank": 1})
    assert ids(late) == ["c", "b", "d", "a"]


# -- models -----------------------------------------------------------------


def test_model_validation_keeps_valid_items_and_reports_invalid_ones() -> None:
    group = Group()
    view = group.view(sort_key="rank", model=Todo)
    (errors,) = group.sync(
        {"id": "a", "text": "ok", "rank": 2},
        {"id": "bad", "rank": "not a number"},
        {"id": "b", "text": "fine", "rank": 1},
    )
    snapshot = view.snapshot()
    assert [todo.id for todo in snapshot] == ["b", "a"]
    assert all(isinstance(todo, Todo) for todo in snapshot)
    assert len(view) == 2
    assert set(view.by_id) == {"a", "b"}
    assert [err.item_id for err in errors] == ["bad"]
    assert "text" in errors[0].detail
    assert "rank" in errors[0].detail


def test_an_item_that_becomes_invalid_leaves_the_view_and_can_come_back() -> None:
    group = Group()
    view = group.view(sort_key="rank", model=Todo)
    group.sync({"id": "a", "text": "x", "rank": 1}, {"id": "b", "text": "y", "rank": 2})
    (errors,) = group.set({"id": "a", "text": None})
    assert [err.item_id for err in errors] == ["a"]
    assert ids(view) == ["b"]
    (errors,) = group.set({"id": "a", "text": "back", "rank": 3})
    assert list(errors) == []
    assert ids(view) == ["b", "a"]
    assert view.by_id["a"] == Todo(id="a", text="back", rank=3)


def test_views_with_and_without_model_see_the_same_frames() -> None:
    group = Group()
    typed = group.view(model=Todo)
    raw = group.view()
    errors = group.sync({"id": "a", "text": "x"}, {"id": "b"})
    assert [len(found) for found in errors] == [1, 0]
    assert ids(typed) == ["a"]
    assert ids(raw) == ["a", "b"]


def test_item_view_validates_and_reports() -> None:
    state = ItemState()
    view: ItemView[Todo] = ItemView(state, Todo)
    assert view.value is None
    assert not view.synced
    state.apply(frame("sync", 1, {"id": "m", "text": "hi"}, "m"))
    assert list(view.refresh()) == []
    assert view.value == Todo(id="m", text="hi")
    state.apply(frame("update", 2, {"id": "m"}, "m"))
    errors = view.refresh()
    assert [err.item_id for err in errors] == [None]
    assert view.value is None
    state.apply(frame("delete", 3, None, "m"))
    assert list(view.refresh()) == []
    assert view.value is None


def test_item_view_without_model_exposes_the_raw_item() -> None:
    state = ItemState()
    state.apply(frame("sync", 1, {"text": "hi"}, "message"))
    view: ItemView[Any] = ItemView(state)  # a late view sees the current value
    assert view.synced
    assert view.value == {"text": "hi"}


# -- snapshots --------------------------------------------------------------


def test_a_held_snapshot_never_changes() -> None:
    group = Group()
    view = group.view(sort_key="rank")
    group.sync({"id": "a", "rank": 1}, {"id": "b", "rank": 2})
    held = view.snapshot()  # taken, not read yet
    group.set({"id": "c", "rank": 0})
    group.delete("a")
    assert [item["id"] for item in held] == ["a", "b"]
    assert len(held) == 2
    assert ids(view) == ["c", "b"]


def test_a_read_snapshot_never_changes() -> None:
    group = Group()
    view = group.view()
    group.sync({"id": "a"})
    held = view.snapshot()
    assert held == [{"id": "a"}]
    group.set({"id": "b"})
    assert held == [{"id": "a"}]
    assert view.snapshot() == [{"id": "a"}, {"id": "b"}]


def test_a_snapshot_read_then_let_go_shows_the_next_change() -> None:
    group = Group()
    view = group.view(sort_key="rank")
    group.sync({"id": "a", "rank": 1})
    assert list(view.snapshot()) == [{"id": "a", "rank": 1}]  # read, then let go
    group.set({"id": "b", "rank": 0})
    assert len(view.snapshot()) == 2
    assert list(view.snapshot()) == [{"id": "b", "rank": 0}, {"id": "a", "rank": 1}]
    group.delete("b")
    assert view.snapshot() == [{"id": "a", "rank": 1}]


@pytest.mark.parametrize("sort_key", [None, "rank"])
def test_only_a_kept_snapshot_costs_a_new_one(
    monkeypatch: pytest.MonkeyPatch, sort_key: str | None
) -> None:
    built: list[int] = []  # counts only: a reference here would keep the snapshots
    original = Items.__init__

    def counting(self: Items[Any], *args: Any) -> None:
        built.append(1)
        original(self, *args)

    monkeypatch.setattr(Items, "__init__", counting)
    group = Group()
    view = group.view(sort_key=sort_key)
    group.sync(*({"id": str(n), "rank": n} for n in range(10)))
    for n in range(100):  # a listener that reads each change and keeps nothing
        group.set({"id": str(n % 20), "rank": n})
        snapshot = view.snapshot()
        assert len(snapshot) == max(10, min(n + 1, 20))
        if sort_key is not None:
            assert snapshot[-1]["rank"] == max(n, 9)
        del snapshot
    assert len(built) == 1
    kept = []
    for n in range(3):  # a listener that keeps each snapshot
        group.set({"id": "k", "rank": 1000 + n})
        kept.append(view.snapshot())
    assert len(built) == 3  # the first kept one was the reused snapshot
    assert [[item["rank"] for item in items if item["id"] == "k"] for items in kept] == [
        [1000],
        [1001],
        [1002],
    ]


def test_copied_and_pickled_snapshots_keep_their_items() -> None:
    group = Group()
    view = group.view()
    group.sync({"id": "a"})
    lazy = view.snapshot()  # taken, not read: a copy must not follow the group either
    shallow, deep, pickled = copy.copy(lazy), copy.deepcopy(lazy), pickle.dumps(lazy)
    group.set({"id": "b"})
    assert shallow == deep == pickle.loads(pickled) == [{"id": "a"}]
    assert isinstance(pickle.loads(pickled), Items)
    assert view.snapshot() == [{"id": "a"}, {"id": "b"}]


def test_snapshots_are_immutable_sequences() -> None:
    group = Group()
    view = group.view()
    group.sync({"id": "a"}, {"id": "b"})
    snapshot = view.snapshot()
    assert snapshot[-1] == {"id": "b"}
    assert snapshot[0:1] == ({"id": "a"},)
    assert list(reversed(snapshot)) == [{"id": "b"}, {"id": "a"}]
    assert {"id": "a"} in snapshot
    assert snapshot == view.snapshot()
    assert "Items(" in repr(snapshot)
    with pytest.raises(TypeError):
        snapshot[0] = {"id": "z"}  # type: ignore[index]


@pytest.fixture
def ordered_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count how often a view builds its ordered items (the O(N) step)."""
    calls: list[int] = []
    original: Callable[[GroupView[Any]], tuple[Any, ...]] = GroupView._ordered

    def counting(self: GroupView[Any]) -> tuple[Any, ...]:
        if self._cache is None:
            calls.append(len(self))
        return original(self)

    monkeypatch.setattr(GroupView, "_ordered", counting)
    return calls


@pytest.mark.parametrize("sort_key", [None, "rank"])
def test_snapshots_nobody_reads_are_never_built(
    ordered_calls: list[int], sort_key: str | None
) -> None:
    group = Group()
    view = group.view(sort_key=sort_key)
    group.sync(*({"id": str(n), "rank": n % 7} for n in range(100)))
    for n in range(200):
        group.set({"id": str(n % 150), "rank": n % 5})
        view.snapshot()  # taken and dropped at once, like a listener that ignores it
    gc.collect()
    group.set({"id": "x", "rank": 1})
    assert ordered_calls == []
    assert len(view.snapshot()) == 151
    assert ordered_calls == []  # len() does not build either
    assert len(list(view.snapshot())) == 151
    assert ordered_calls == [151]


def test_reading_twice_without_a_change_builds_once(ordered_calls: list[int]) -> None:
    group = Group()
    view = group.view(sort_key="rank")
    group.sync({"id": "a", "rank": 1}, {"id": "b", "rank": 0})
    first = list(view.snapshot())
    second = list(view.snapshot())
    assert first == second
    assert ordered_calls == [2]
    group.set({"id": "a", "rank": 1})  # an exact duplicate: nothing changed, cache kept
    group.set({"id": "a", "rank": 1})
    assert list(view.snapshot()) == first
    assert ordered_calls == [2]


def test_changing_a_string_sort_value_moves_the_item() -> None:
    group = Group()
    view = group.view(sort_key="day")
    group.sync({"id": "a", "day": "mon"}, {"id": "b", "day": "tue"}, {"id": "c", "day": "wed"})
    group.set({"id": "a", "day": "zzz", "text": "moved"})
    assert ids(view) == ["b", "c", "a"]
    group.set({"id": "a", "day": "zzz", "text": "same place"})
    assert ids(view) == ["b", "c", "a"]
    assert view.snapshot()[2]["text"] == "same place"


def test_a_model_item_valid_again_with_the_same_sort_value_is_back_in_order() -> None:
    group = Group()
    view = group.view(sort_key="text", model=Todo)
    group.sync({"id": "a", "text": "b"}, {"id": "b", "text": "c"})
    group.set({"id": "a", "text": "b", "rank": "not a number"})  # invalid: leaves the view
    assert ids(view) == ["b"]
    group.set({"id": "a", "text": "b", "rank": 1})  # same sort value, valid again
    assert ids(view) == ["a", "b"]
