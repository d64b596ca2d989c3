"""The a/c/d keys against a real StubServer: the group they act on, where they are offered,
the add dialog's checks, and keys that arrive in one burst."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual import events
from textual.widgets import Input, Label

from motia_client_tui.app import MotiaTui
from server_stub import StubServer
from tests.tui.helpers import SIZE, log_lines, make_app, todo, wait_until


@pytest.fixture
async def stub() -> AsyncIterator[StubServer]:
    async with StubServer(host="127.0.0.1", port=0) as server:
        yield server


def footer_keys(app: MotiaTui) -> set[str]:
    """The key descriptions the footer shows (not the command palette's)."""
    keys = app.screen.query("FooterKey")
    return {str(key.description) for key in keys if not key.has_class("-command-palette")}


def burst(app: MotiaTui, text: str) -> None:
    """Send ``text`` as key events in one go, with no pause between them (like a paste
    in a terminal without bracketed paste): nothing runs until all are queued."""
    names = {"\t": "tab", "\r": "enter", " ": "space"}
    for char in text:
        event = events.Key(names.get(char, char), None if char in "\t\r" else char)
        event.set_sender(app)
        app.post_message(event)


async def test_the_keys_add_complete_and_delete_in_the_group_shown(stub: StubServer) -> None:
    await stub.store.set("todo", "inbox", "in-1", todo("in-1", "an inbox todo"))
    app = make_app(stub.ws_url, http_url=stub.http_url, group="work")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.client is not None and app.client.is_connected)
        assert app.table.border_title == "todo/work"
        await pilot.press("a", *"ship the release", "tab", *"2026-03-01", "enter")
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the added row")
        (row_id,) = app.table.shown_ids
        work = await stub.store.list_group("todo", "work")
        assert [(t["id"], t["description"], t["dueDate"]) for t in work] == [
            (row_id, "ship the release", "2026-03-01")
        ]
        assert [t["id"] for t in await stub.store.list_group("todo", "inbox")] == ["in-1"]

        await pilot.press("c")
        await wait_until(
            pilot,
            lambda: str(app.table.get_cell(row_id, "completedAt")).startswith("✓"),
            what="the done mark",
        )
        assert (await stub.store.get("todo", "work", row_id) or {}).get("completedAt")
        assert "completedAt" not in (await stub.store.get("todo", "inbox", "in-1") or {})

        await pilot.press("d")
        await wait_until(pilot, lambda: app.table.row_count == 0, what="the row deleted")
        assert await stub.store.list_group("todo", "work") == []
        assert [t["id"] for t in await stub.store.list_group("todo", "inbox")] == ["in-1"]
        assert not log_lines(app, "error")


async def test_the_todo_keys_are_offered_on_the_todo_stream_only(stub: StubServer) -> None:
    await stub.store.set("openai", "openai", "m1", {"id": "m1", "message": "hello"})
    app = make_app(stub.ws_url, http_url=stub.http_url, stream="openai", group="openai")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the row")
        await pilot.pause(0.1)
        assert footer_keys(app) == {"Quit"}
        await pilot.press("a", "c", "d")
        assert type(app.screen).__name__ != "AddTodoScreen"
        await pilot.pause(0.2)
        assert await stub.store.get("openai", "openai", "m1") == {"id": "m1", "message": "hello"}
        assert app.table.row_count == 1
        assert not any(line.startswith(("add", "complete", "delete")) for line in log_lines(app))


async def test_on_one_todo_the_footer_offers_complete_and_delete_not_add(
    stub: StubServer,
) -> None:
    await stub.store.set("todo", "inbox", "t1", todo("t1", "one"))
    app = make_app(stub.ws_url, http_url=stub.http_url, item="t1")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the row")
        await pilot.pause(0.1)
        assert footer_keys(app) == {"Complete", "Delete", "Quit"}
    app = make_app(stub.ws_url, http_url=stub.http_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert footer_keys(app) == {"Add todo", "Complete", "Delete", "Quit"}


async def test_a_bad_due_date_is_refused_in_the_dialog_and_nothing_is_sent(
    stub: StubServer,
) -> None:
    app = make_app(stub.ws_url, http_url=stub.http_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.client is not None and app.client.is_connected)
        await pilot.press("a", *"water the plants", "tab", *"next friday", "enter")
        assert type(app.screen).__name__ == "AddTodoScreen"
        error = str(app.screen.query_one("#add-error", Label).content)
        assert "due date 'next friday' is not a date: use YYYY-MM-DD" in error
        assert app.screen.focused is app.screen.query_one("#due", Input)
        await pilot.pause(0.2)
        assert await stub.store.list_group("todo", "inbox") == []
        # Fixing the date clears the message, and enter adds the todo with both fields.
        app.screen.query_one("#due", Input).value = ""
        await pilot.press(*"2026-02-30", "enter")  # no such day
        assert "is not a date" in str(app.screen.query_one("#add-error", Label).content)
        app.screen.query_one("#due", Input).value = ""
        await pilot.press(*"2026-02-28T17:00Z")
        assert str(app.screen.query_one("#add-error", Label).content) == ""
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the added row")
        (stored,) = await stub.store.list_group("todo", "inbox")
        assert (stored["description"], stored["dueDate"]) == (
            "water the plants",
            "2026-02-28T17:00Z",
        )


async def test_keys_typed_in_one_burst_all_reach_the_dialog(stub: StubServer) -> None:
    await stub.store.set("todo", "inbox", "t1", todo("t1", "keep me"))
    app = make_app(stub.ws_url, http_url=stub.http_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the row")
        # d, c and q are todo keys and quit on the table: here they are text.
        burst(app, "abread and cheddar, quick\t2026-03-01\r")
        await wait_until(pilot, lambda: app.table.row_count == 2, what="the added row")
        stored = {t["id"]: t for t in await stub.store.list_group("todo", "inbox")}
        (added,) = [t for key, t in stored.items() if key != "t1"]
        assert added["description"] == "bread and cheddar, quick"
        assert added["dueDate"] == "2026-03-01"
        assert stored["t1"] == todo("t1", "keep me")  # neither completed nor deleted
        assert app.is_running


async def test_a_pasted_description_and_due_date_fill_both_fields(stub: StubServer) -> None:
    app = make_app(stub.ws_url, http_url=stub.http_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.client is not None and app.client.is_connected)
        await pilot.press("a")
        app.screen.focused.post_message(events.Paste("call the plumber\t2026-04-02"))  # type: ignore[union-attr]
        await pilot.pause(0.1)
        fields: list[Any] = list(app.screen.query(Input))
        assert [field.value for field in fields] == ["call the plumber", "2026-04-02"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the added row")
        (stored,) = await stub.store.list_group("todo", "inbox")
        assert (stored["description"], stored["dueDate"]) == ("call the plumber", "2026-04-02")
