"""The pure part: cell text, columns, the change feed per frame, and the plans between frames."""

from __future__ import annotations

import pytest
from rich.text import Text

from motia_client import ItemChange
from motia_client_tui.rows import (
    REMOVED,
    Columns,
    OutOfStep,
    Pending,
    cell_text,
    compact,
    format_time,
    plan,
    plan_changes,
)


def test_format_time_shows_utc_seconds_and_leaves_other_values_alone() -> None:
    assert format_time("2026-01-05T09:30:00.123Z") == "2026-01-05 09:30"
    assert format_time("2026-01-05T10:30:00+01:00") == "2026-01-05 09:30"
    assert format_time("2026-02-01") == "2026-02-01"
    assert format_time("next tuesday") == "next tuesday"
    assert format_time(None) == ""
    assert format_time(17) == "17"


def test_cells_are_never_markup_and_stay_on_one_short_line() -> None:
    assert cell_text("[red]alert[/red]").plain == "[red]alert[/red]"
    assert cell_text("two\nlines").plain == "two lines"
    assert len(cell_text("x" * 500).plain) == 60
    assert cell_text({"a": [1, 2]}).plain == '{"a":[1,2]}'
    assert cell_text(None).plain == ""
    assert cell_text(True).plain == "true"
    assert cell_text(3).justify == "right"
    assert compact("y" * 300, 200).endswith("…")


def test_todo_columns_mark_completed_todos() -> None:
    columns = Columns.for_stream("todo")
    assert [c.label for c in columns.columns] == ["description", "created (UTC)", "due", "done"]
    open_todo = {"id": "t1", "description": "a", "createdAt": "2026-01-05T09:30:00Z"}
    done_todo = {**open_todo, "completedAt": "2026-01-05T10:00:01.000Z"}
    assert [c.plain for c in columns.cells("t1", open_todo)] == ["a", "2026-01-05 09:30", "", ""]
    cells = columns.cells("t1", done_todo)
    assert cells[3].plain == "✓ 10:00"
    assert cells[0] != columns.cells("t1", open_todo)[0]  # dimmed: a different cell


def test_other_streams_grow_columns_as_fields_appear() -> None:
    columns = Columns.for_stream("stats")
    assert [c.key for c in columns.columns] == ["id"]
    added = columns.discover([{"id": "x", "created": 1, "_private": 2}])
    assert [c.key for c in added] == ["created"]
    assert columns.discover([{"created": 5}]) == []
    added = columns.discover([{"created": 5, "deleted": 1}])
    assert [c.key for c in added] == ["deleted"]
    assert [c.plain for c in columns.cells("x", {"created": 1})] == ["x", "1", ""]
    assert Columns.for_stream("todo").discover([{"anything": 1}]) == []


def test_plan_nothing_changed_is_empty_even_for_equal_copies() -> None:
    item = {"id": "a", "v": 1}
    assert plan(["a"], {"a": item}, [("a", item)]).empty
    assert plan(["a"], {"a": item}, [("a", dict(item))]).empty  # a resync brings a copy


def test_plan_appends_removes_and_updates_without_reordering() -> None:
    a, b, c = {"v": "a"}, {"v": "b"}, {"v": "c"}
    result = plan(["a", "b"], {"a": a, "b": b}, [("b", {"v": "B"}), ("c", c)])
    assert result.removed == ["a"]
    assert result.changed == ["b"]
    assert result.added == ["c"]
    assert result.order is None  # survivors then appended rows: already in order


def test_plan_reports_a_new_order_only_when_it_moved() -> None:
    a, b, c = {"v": "a"}, {"v": "b"}, {"v": "c"}
    shown = {"a": a, "b": b}
    assert plan(["a", "b"], shown, [("b", b), ("a", a)]).order == ["b", "a"]
    inserted = plan(["a", "b"], shown, [("a", a), ("c", c), ("b", b)])
    assert inserted.added == ["c"]
    assert inserted.order == ["a", "c", "b"]


def test_plan_from_empty_adds_everything_in_order() -> None:
    rows = [(str(n), {"n": n}) for n in range(5)]
    result = plan([], {}, rows)
    assert result.added == ["0", "1", "2", "3", "4"]
    assert result.order is None
    assert not result.removed
    assert not result.changed


def test_text_cells_compare_by_content() -> None:
    assert Text("a") == Text("a")
    assert Text("a") is not Text("a")


# -- the change feed, per frame ------------------------------------------------------------


def test_pending_keeps_the_last_item_of_each_id_between_frames() -> None:
    pending = Pending(sorted_rows=False)
    assert not pending
    pending.record(ItemChange("modified", "a", {"v": 1}, {"v": 2}))
    pending.record(ItemChange("modified", "a", {"v": 2}, {"v": 3}))
    pending.record(ItemChange("removed", "b", {"v": 1}, None))
    assert pending.items == {"a": {"v": 3}, "b": REMOVED}
    assert not pending.reorder  # an update keeps its place, a removal moves no other row
    taken = pending.take()
    assert taken.items == {"a": {"v": 3}, "b": REMOVED}
    assert not pending  # collecting afresh
    assert pending.items == {}


def test_pending_says_when_the_order_may_have_moved() -> None:
    def reorders(change: ItemChange[dict[str, int]], *, sorted_rows: bool) -> bool:
        pending = Pending(sorted_rows=sorted_rows)
        pending.record(change)
        return pending.reorder

    added = ItemChange("added", "a", None, {"v": 1})
    modified = ItemChange("modified", "a", {"v": 1}, {"v": 2})
    resynced = ItemChange("modified", "a", {"v": 1}, {"v": 2}, resync=True)
    assert reorders(added, sorted_rows=False)
    assert not reorders(modified, sorted_rows=False)
    assert reorders(modified, sorted_rows=True)  # its sort key may have changed
    assert reorders(resynced, sorted_rows=False)  # a fresh sync brings the server's order


def test_pending_notes_a_change_the_feed_did_not_report() -> None:
    pending = Pending(sorted_rows=False)
    pending.missed = True
    assert pending
    assert pending.take().missed
    assert not pending.missed


def test_plan_changes_looks_only_at_the_changed_ids() -> None:
    a, b = {"v": "a"}, {"v": "b"}
    shown = {"a": a, "b": b}
    changes = {"a": REMOVED, "b": {"v": "B"}, "c": {"v": "c"}, "gone": REMOVED}
    result = plan_changes(["a", "b"], shown, changes)
    assert result.removed == ["a"]  # "gone" was never shown: nothing to remove
    assert result.changed == ["b"]
    assert result.added == ["c"]
    assert result.order is None
    assert plan_changes(["a", "b"], shown, {"a": dict(a)}).empty  # an equal copy (a resync)


def test_plan_changes_places_added_rows_by_the_order() -> None:
    a, b = {"v": "a"}, {"v": "b"}
    shown = {"a": a, "b": b}
    appended = plan_changes(["a", "b"], shown, {"d": {}, "c": {}}, ["a", "b", "c", "d"])
    assert appended.added == ["c", "d"]  # in their final order: no move needed
    assert appended.order is None
    inserted = plan_changes(["a", "b"], shown, {"c": {}}, ["c", "a", "b"])
    assert inserted.order == ["c", "a", "b"]
    moved = plan_changes(["a", "b"], shown, {"a": {"v": "A"}}, ["b", "a"])
    assert (moved.changed, moved.order) == (["a"], ["b", "a"])


@pytest.mark.parametrize(
    "order",
    [
        ["a", "b", "x"],  # an id the feed never reported
        ["a"],  # a row the changes leave is missing
        ["b", "x"],  # as many ids, not the same ones
    ],
)
def test_plan_changes_refuses_an_order_out_of_step_with_the_changes(order: list[str]) -> None:
    with pytest.raises(OutOfStep):
        plan_changes(["a", "b"], {"a": {}, "b": {}}, {"a": {"v": 1}}, order)
