"""Views: sort order, model validation, lazy immutable snapshots and the change feed.

Views are driven the way the client drives them: frames go into a connected
:class:`Session`, and each local subscriber (a :class:`RecordingSink`) reads its
own view. No event loop, no socket.
"""

from __future__ import annotations

import copy
import gc
import pickle
import random
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from motia_client import _views
from motia_client._items import Items
from motia_client._state import GroupState
from motia_client._views import GroupView, ItemView, sort_rank
from tests.client.sinks import RecordingSink, connected, delete, put, sync


class Todo(BaseModel):
    id: str
    text: str
    rank: int = 0


class Group:
    """One group room (``todo/inbox``) of a connected session, fed frame by frame."""

    def __init__(self) -> None:
        self.session = connected()
        self.ts = 0

    def sink(self, sort_key: str | None = None, model: type[BaseModel] | None = None) -> Any:
        return RecordingSink().subscribe(
            self.session, "todo", "inbox", sort_key=sort_key, model=model
        )

    def view(self, sort_key: str | None = None, model: type[BaseModel] | None = None) -> Any:
        return self.sink(sort_key, model).view

    def _next(self) -> int:
        self.ts += 1
        return self.ts

    def sync(self, *items: dict[str, Any]) -> None:
        self.session.receive(sync(list(items), ts=self._next()))

    def set(self, item: dict[str, Any]) -> None:
        self.session.receive(put(item, ts=self._next()))

    def delete(self, item_id: str) -> None:
        self.session.receive(delete(item_id, ts=self._next()))


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
    assert view.ordered_ids() == ("c", "b", "d", "a")  # the ids without the items


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
    assert view.ordered_ids() == ("b", "e", "f", "a", "c", "m1", "n", "m2")


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
    group.set({"id": "i0001", "at": "9999"})  # and follows updates afterwards
    group.set({"id": "new", "at": "0000"})
    assert ids(view)[-1] == "i0001"
    assert ids(view).index("new") == 2  # after the two "0000" ties left, i0000 and i0002


def test_a_resync_with_mixed_sort_values_orders_numbers_then_strings_then_missing() -> None:
    group = Group()
    view = group.view(sort_key="at")
    group.sync({"id": "a", "at": "b"}, {"id": "b", "at": 2}, {"id": "c", "at": "a"}, {"id": "d"})
    assert ids(view) == ["b", "c", "a", "d"]


def test_an_empty_resync_empties_the_order() -> None:
    group = Group()
    view = group.view(sort_key="at")
    group.sync({"id": "a", "at": "1"})
    group.sync()
    assert ids(view) == []
    group.set({"id": "b", "at": "2"})
    assert ids(view) == ["b"]


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


def test_a_sort_value_too_deeply_nested_to_print_ranks_with_the_odd_values() -> None:
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = [deep]
    assert sort_rank(deep) == (2, "")
    assert sort_rank(deep) < sort_rank([1]) < sort_rank(None)


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
    sink = group.sink(sort_key="rank", model=Todo)
    group.sync(
        {"id": "a", "text": "ok", "rank": 2},
        {"id": "bad", "rank": "not a number"},
        {"id": "b", "text": "fine", "rank": 1},
    )
    view = sink.view
    snapshot = view.snapshot()
    assert [todo.id for todo in snapshot] == ["b", "a"]
    assert all(isinstance(todo, Todo) for todo in snapshot)
    assert len(view) == 2
    assert set(view.by_id) == {"a", "b"}
    assert [err.item_id for err in sink.errors] == ["bad"]
    assert "text" in sink.errors[0].detail
    assert "rank" in sink.errors[0].detail


def test_an_item_that_becomes_invalid_leaves_the_view_and_can_come_back() -> None:
    group = Group()
    sink = group.sink(sort_key="rank", model=Todo)
    view = sink.view
    group.sync({"id": "a", "text": "x", "rank": 1}, {"id": "b", "text": "y", "rank": 2})
    group.set({"id": "a", "text": None})
    assert [err.item_id for err in sink.errors] == ["a"]
    assert ids(view) == ["b"]
    sink.errors.clear()
    group.set({"id": "a", "text": "back", "rank": 3})
    assert sink.errors == []
    assert ids(view) == ["b", "a"]
    assert view.by_id["a"] == Todo(id="a", text="back", rank=3)


def test_views_with_and_without_model_see_the_same_frames() -> None:
    group = Group()
    typed = group.sink(model=Todo)
    raw = group.sink()
    group.sync({"id": "a", "text": "x"}, {"id": "b"})
    assert [len(typed.errors), len(raw.errors)] == [1, 0]
    assert ids(typed.view) == ["a"]
    assert ids(raw.view) == ["a", "b"]


def test_a_late_model_view_validates_the_current_items_without_reporting_old_errors() -> None:
    group = Group()
    group.view()
    group.sync({"id": "a", "text": "x"}, {"id": "b"})
    late = group.sink(model=Todo)
    assert ids(late.view) == ["a"]
    assert late.view.errors == []  # errors are reported when they come from a frame


def test_a_model_whose_root_validator_fails_reports_the_item() -> None:
    from pydantic import model_validator

    class Picky(BaseModel):
        id: str

        @model_validator(mode="after")
        def no_x(self) -> Picky:
            if self.id == "x":
                raise ValueError("x is not allowed")
            return self

    group = Group()
    sink = group.sink(model=Picky)
    group.sync({"id": "x"}, {"id": "y"})
    assert ids(sink.view) == ["y"]
    (error,) = sink.errors
    assert error.item_id == "x"
    assert error.detail.startswith("<item>: ")  # the error is about the item as a whole


def test_item_view_validates_and_reports() -> None:
    session = connected()
    sink = RecordingSink().subscribe(session, "todo", "inbox", "m", model=Todo)
    view: ItemView[Todo] = sink.view  # type: ignore[assignment]
    assert view.value is None
    assert not view.synced
    session.receive(sync({"id": "m", "text": "hi"}, item_id="m", ts=1))
    assert sink.errors == []
    assert view.snapshot() == Todo(id="m", text="hi")
    session.receive(put({"id": "m"}, ts=2))
    assert [err.item_id for err in sink.errors] == ["m"]
    assert view.value is None
    session.receive(delete("m", ts=3))
    assert view.value is None
    assert sink.changes == 3


def test_item_view_without_model_exposes_the_raw_item() -> None:
    session = connected()
    RecordingSink().subscribe(session, "openai", "trace", "message")
    session.receive(sync({"text": "hi"}, stream="openai", group="trace", item_id="message", ts=1))
    late = RecordingSink().subscribe(session, "openai", "trace", "message")
    assert late.view is not None
    assert late.view.synced
    assert late.state == {"text": "hi"}  # a late view sees the current value


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


def test_a_frozen_state_is_fixed_at_once_for_another_task_or_thread() -> None:
    group = Group()
    view = group.view(sort_key="rank")
    group.sync({"id": "a", "rank": 1})
    frozen = view.frozen()  # read now: what a waiter or another thread gets
    group.set({"id": "b", "rank": 0})
    assert frozen == [{"id": "a", "rank": 1}]
    assert ids(view) == ["b", "a"]
    session = connected()
    item = RecordingSink().subscribe(session, "todo", "inbox", "t1").view
    session.receive(sync({"id": "t1"}, item_id="t1", ts=1))
    assert item.frozen() == {"id": "t1"}  # an item is a snapshot already


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
def test_only_a_kept_or_read_snapshot_costs_a_new_one(
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
    for n in range(100):  # a listener that takes each snapshot, counts it and keeps nothing
        group.set({"id": str(n % 20), "rank": n})
        snapshot = view.snapshot()
        assert len(snapshot) == max(10, min(n + 1, 20))
        del snapshot
    assert len(built) == 1  # never read: the same lazy snapshot all along
    for n in range(10):  # a listener that reads each change: a read snapshot is fixed
        group.set({"id": "r", "rank": 500 + n})
        assert view.snapshot()[-1]["rank"] == 500 + n
    assert len(built) == 1 + 9  # the lazy one, read first; then one per change
    kept = []
    for n in range(3):  # a listener that keeps each snapshot
        group.set({"id": "k", "rank": 1000 + n})
        kept.append(view.snapshot())
    assert len(built) == 1 + 9 + 3
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
    assert snapshot != "ab"
    with pytest.raises(TypeError):
        snapshot[0] = {"id": "z"}  # type: ignore[index,unused-ignore]


@pytest.fixture
def ordered_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count how often a view builds its ordered items (the O(N) step)."""
    calls: list[int] = []
    original: Callable[[GroupView[Any]], tuple[Any, ...]] = GroupView.ordered

    def counting(self: GroupView[Any]) -> tuple[Any, ...]:
        if self._cache is None:
            calls.append(len(self))
        return original(self)

    monkeypatch.setattr(GroupView, "ordered", counting)
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


def test_without_reference_counts_every_snapshot_counts_as_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a Python without ``sys.getrefcount`` (PyPy) snapshots stay correct, only slower."""
    path = Path(_views.__file__).parent / "_views.py"  # its source, also beside a compiled one
    monkeypatch.delattr(sys, "getrefcount")
    module = runpy.run_path(str(path))  # the module as it loads there
    monkeypatch.undo()
    assert module["_UNSHARED_REFS"] == 0
    state = GroupState()
    view = module["GroupView"](state)

    def apply_sync(ts: int, items: list[dict[str, Any]]) -> None:  # as the session applies it
        view.before_change()
        op = state.sync(ts, items)
        view.apply(op, None, state.old, state.items)

    apply_sync(1, [{"id": "a"}])
    first = view.snapshot()
    apply_sync(2, [{"id": "b"}])
    second = view.snapshot()
    assert first is not second  # copied out before the change: nobody can count references
    assert list(first) == [{"id": "a"}]
    assert list(second) == [{"id": "b"}]


# -- the change feed (what a view records while it tracks) --------------------------------


class Nested(BaseModel):
    id: str
    nested: Any = None


def test_a_tracking_view_records_values_too_deeply_nested_to_compare_as_modified() -> None:
    deep: Any = "leaf"
    other: Any = "leaf"
    for _ in range(100_000):  # deeper than any frame can carry: the reducer is driven directly
        deep, other = [deep], [other]
    state = GroupState()
    view: GroupView[Nested] = GroupView(state, model=Nested)
    view.tracks = True
    for ts, value in enumerate([deep, other]):  # as the session applies a sync
        view.before_change()
        op = state.sync(ts, [{"id": "a", "nested": value}])
        view.apply(op, None, state.old, state.items)
    assert [(kind, key) for kind, key, _old, _new in view.recorded] == [
        ("added", "a"),
        ("modified", "a"),  # == raised RecursionError: counted as a change
    ]


def test_a_view_that_does_not_track_records_nothing() -> None:
    group = Group()
    sink = group.sink()
    group.sync({"id": "a"})
    group.set({"id": "b"})
    group.delete("a")
    assert sink.changes == 3
    assert sink.recorded == []


@pytest.mark.parametrize("sort_key", [None, "rank"])
def test_a_tracking_view_records_each_upsert_and_removal(sort_key: str | None) -> None:
    group = Group()
    sink = group.sink(sort_key=sort_key)
    sink.view.tracks = True
    group.set({"id": "a", "rank": 1})
    group.set({"id": "a", "rank": 2})
    group.set({"id": "a", "rank": 2})  # a duplicate: nothing
    group.delete("a")
    group.delete("a")  # of a missing item: nothing
    assert sink.recorded == [
        ("added", "a", None, {"id": "a", "rank": 1}),
        ("modified", "a", {"id": "a", "rank": 1}, {"id": "a", "rank": 2}),
        ("removed", "a", {"id": "a", "rank": 2}, None),
    ]


def test_a_tracking_model_view_records_models_and_validity_changes() -> None:
    group = Group()
    sink = group.sink(model=Todo)
    sink.view.tracks = True
    group.set({"id": "a", "text": "x"})
    group.set({"id": "a", "text": None})  # invalid: gone from the view
    group.set({"id": "a", "text": "y"})
    assert sink.recorded == [
        ("added", "a", None, Todo(id="a", text="x")),
        ("removed", "a", Todo(id="a", text="x"), None),
        ("added", "a", None, Todo(id="a", text="y")),
    ]


def test_a_tracking_model_view_records_the_net_difference_of_a_sync() -> None:
    group = Group()
    sink = group.sink(model=Todo)
    sink.view.tracks = True
    group.sync(
        {"id": "keep", "text": "k"}, {"id": "edit", "text": "1"}, {"id": "gone", "text": "g"}
    )
    assert sorted(sink.recorded) == sorted(
        ("added", key, None, Todo(id=key, text=text))
        for key, text in [("keep", "k"), ("edit", "1"), ("gone", "g")]
    )
    sink.recorded.clear()
    group.sync({"id": "keep", "text": "k"}, {"id": "edit", "text": "2"}, {"id": "new", "text": "n"})
    assert sorted(sink.recorded) == [
        ("added", "new", None, Todo(id="new", text="n")),
        ("modified", "edit", Todo(id="edit", text="1"), Todo(id="edit", text="2")),
        ("removed", "gone", Todo(id="gone", text="g"), None),
    ]


@pytest.mark.parametrize("sort_key", [None, "rank"])
def test_a_tracking_view_without_model_records_the_net_difference_of_a_sync(
    sort_key: str | None,
) -> None:
    group = Group()
    sink = group.sink(sort_key=sort_key)
    sink.view.tracks = True
    group.sync({"id": "keep"}, {"id": "edit", "v": 1}, {"id": "gone"})
    assert sorted(sink.recorded) == [
        ("added", "edit", None, {"id": "edit", "v": 1}),
        ("added", "gone", None, {"id": "gone"}),
        ("added", "keep", None, {"id": "keep"}),
    ]
    sink.recorded.clear()
    group.sync({"id": "keep"}, {"id": "edit", "v": 2}, {"id": "new"})
    assert sorted(sink.recorded) == [
        ("added", "new", None, {"id": "new"}),
        ("modified", "edit", {"id": "edit", "v": 1}, {"id": "edit", "v": 2}),
        ("removed", "gone", {"id": "gone"}, None),
    ]


def test_a_tracking_item_view_records_added_modified_removed() -> None:
    session = connected()
    sink = RecordingSink().subscribe(session, "todo", "inbox", "a")
    assert sink.view is not None
    sink.view.tracks = True
    session.receive(sync(None, item_id="a", ts=1))  # no item yet: nothing to record
    session.receive(put({"id": "a", "v": 1}, ts=2))
    session.receive(put({"id": "a", "v": 2}, ts=3))
    session.receive(put({"id": "a", "v": 2}, ts=4))
    session.receive(delete("a", ts=5))
    assert sink.recorded == [
        ("added", "a", None, {"id": "a", "v": 1}),
        ("modified", "a", {"id": "a", "v": 1}, {"id": "a", "v": 2}),
        ("removed", "a", {"id": "a", "v": 2}, None),
    ]
    assert sink.changes == 4  # the null sync was a change too: "synced, no item"
