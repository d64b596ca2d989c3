"""The TUI's pure parts: todo requests and due dates, echo recognition, the newest item."""

from __future__ import annotations

from typing import Any

import pytest

from motia_client_tui.echoes import MISSING, EchoFilter
from motia_client_tui.follow import Newest, answer_text
from motia_client_tui.todos import add_todo, check_due_date, complete_todo, delete_todo


def test_todo_requests_name_the_group_and_quote_the_id() -> None:
    add = add_todo("work", "ship it", "2026-03-01")
    assert (add.method, add.path, add.params) == ("POST", "/todo", {"groupId": "work"})
    assert add.body == {"description": "ship it", "dueDate": "2026-03-01"}
    assert add_todo("inbox", "no date").body == {"description": "no date"}
    complete = complete_todo("work", "a/b c")
    assert (complete.method, complete.path) == ("POST", "/todo/a%2Fb%20c/complete")
    assert complete.params == {"groupId": "work"}
    delete = delete_todo("work", "t1")
    assert (delete.method, delete.path, delete.params) == (
        "DELETE",
        "/todo/t1",
        {"groupId": "work"},
    )


@pytest.mark.parametrize(
    "text",
    ["2026-01-31", " 2026-01-31 ", "2026-01-31T17:00", "2026-01-31 17:00:05", "2026-01-31T17:00Z",
     "2026-01-31T17:00:00.123Z", "2026-01-31T17:00:00+02:00", "2028-02-29"],
)  # fmt: skip
def test_due_dates_that_are_dates(text: str) -> None:
    assert check_due_date(text) == text.strip()


@pytest.mark.parametrize(
    "text",
    ["tomorrow", "2026-13-01", "2026-02-30", "2027-02-29", "31/01/2026", "20260131",
     "2026-01-31T25:00", "2026-01-31T17:60", "2026-01-31T17:00+25:00", "2026-01-31garbage"],
)  # fmt: skip
def test_due_dates_that_are_not(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date: use YYYY-MM-DD") as info:
        check_due_date(text)
    assert repr(text.strip()) in str(info.value)  # the message quotes what was typed


def test_an_empty_due_date_is_none() -> None:
    assert check_due_date("") is None
    assert check_due_date("   ") is None


def test_a_long_bad_due_date_is_shortened_in_the_message() -> None:
    with pytest.raises(ValueError, match="is not a date") as info:
        check_due_date("x" * 500)
    assert len(str(info.value)) < 160


class Room:
    """A room's items for an echo filter's lookup."""

    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = {item["id"]: item for item in items}

    def lookup(self, item_id: str) -> Any:
        return self.items.get(item_id, MISSING)


def test_an_echo_after_its_change_is_hidden_at_once() -> None:
    room = Room({"id": "a", "v": 2})
    echoes = EchoFilter(room.lookup)
    assert echoes.offer("update", {"id": "a", "v": 2}, now=0.0) == []
    assert echoes.offer("create", {"id": "a", "v": 2}, now=0.0) == []
    assert echoes.offer("delete", {"id": "gone"}, now=0.0) == []
    assert echoes.offer("delete", None, now=0.0) == []
    assert echoes.offer("sync", [{"id": "a", "v": 2}], now=0.0) == []
    assert echoes.hidden == 5


def test_an_echo_before_its_change_is_held_until_it_matches() -> None:
    room = Room({"id": "a", "v": 1})
    echoes = EchoFilter(room.lookup, window=0.5)
    assert echoes.offer("update", {"id": "a", "v": 2}, now=0.0) == []
    assert echoes.holding == 1
    assert echoes.settle(now=0.1) == []
    room.items["a"] = {"id": "a", "v": 2}
    assert echoes.settle(now=0.2) == []
    assert (echoes.hidden, echoes.holding) == (1, 0)


def test_what_never_matches_is_shown_when_its_window_ends() -> None:
    room = Room({"id": "a", "v": 1})
    echoes = EchoFilter(room.lookup, window=0.5)
    assert echoes.offer("update", {"id": "a", "v": 9}, now=0.0) == []
    assert echoes.offer("create", {"id": "b"}, now=0.3) == []
    assert echoes.settle(now=0.4) == []
    assert echoes.settle(now=0.5) == [("update", {"id": "a", "v": 9})]
    assert echoes.settle(now=0.8) == [("create", {"id": "b"})]
    assert echoes.hidden == 0


def test_other_events_are_shown_at_once() -> None:
    echoes = EchoFilter(Room({"id": "a"}).lookup)
    assert echoes.offer("ping", {"id": "a"}, now=0.0) == [("ping", {"id": "a"})]
    assert echoes.offer("update", {"progress": 5}, now=0.0) == [("update", {"progress": 5})]
    assert echoes.offer("update", "text", now=0.0) == [("update", "text")]
    assert echoes.offer("sync", [1, 2], now=0.0) == [("sync", [1, 2])]
    assert echoes.hidden == 0


def test_held_events_are_bounded() -> None:
    echoes = EchoFilter(Room().lookup, window=60, max_held=3)
    shown = [echoes.offer("update", {"id": f"x{n}"}, now=0.0) for n in range(5)]
    assert shown[:3] == [[], [], []]
    assert shown[3:] == [[("update", {"id": "x0"})], [("update", {"id": "x1"})]]
    assert echoes.holding == 3


def test_the_newest_item_is_the_one_that_appeared_last() -> None:
    newest = Newest()
    assert newest.update([]) is None
    assert newest.update(["a", "b", "c"]) == "c"  # the first sync: the group's order
    assert newest.update(["a", "b", "c", "d"]) == "d"
    assert newest.update(["e", "a", "b", "c", "d"]) == "e"  # wherever it appears in the order
    assert newest.update(["e", "a", "b", "c", "d"]) == "e"  # an update changes nothing
    assert newest.update(["a", "b", "c", "d"]) == "d"  # the newest deleted: the one before it
    assert newest.update(["a", "e"]) == "e"  # deleted ids are forgotten: e is new again


def test_answer_text() -> None:
    assert answer_text(None) == ""
    assert answer_text({"id": "m", "message": "hi"}) == "hi"
    assert answer_text({"id": "m", "content": "from content"}) == "from content"
    assert answer_text({"id": "m", "text": "from text", "message": 3}) == "from text"
    assert answer_text({"id": "m", "status": "pending", "_createdAt": 1}) == (
        '{"id":"m","status":"pending"}'
    )
    assert answer_text("plain") == "plain"
