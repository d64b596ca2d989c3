"""The table follows its room through the client's change feed: live changes and resyncs.

Each test runs the app against a real :class:`StubServer`. A resync is forced the
way a network fault makes one: the room is stalled (its changes stop reaching open
sockets), changed, and the connection is dropped; the client rejoins and the feed
gives the net difference. ``FrameStats`` tells how a frame was applied: from the
feed's ids alone, or by comparing every row (``full_compares``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from textual.pilot import Pilot

from motia_client_tui.app import MotiaTui
from server_stub import StubServer
from tests.tui.helpers import SIZE, make_app, wait_until

pytestmark = pytest.mark.timeout(60)

SEEDED = ("t1", "t2", "t3", "t4")
# The client's GroupView.apply reads the items "before" a change from the shared reducer,
# already changed, when the view has no model (the TUI's): see tests/client/test_feed_views.py.


def todo(todo_id: str, description: str, minute: int) -> dict[str, Any]:
    return {"id": todo_id, "description": description, "createdAt": f"2026-01-05T09:{minute}:00Z"}


def description(app: MotiaTui, row_id: str) -> str:
    return str(app.table.get_cell(row_id, "description"))


@dataclass
class Counted:
    """What the scenario cost the app: feed items received, frames that compared every row."""

    item_changes: int
    full_compares: int


Scenario = Callable[[StubServer, MotiaTui, Pilot[Any], str | None], Awaitable[None]]


async def run(scenario: Scenario, sort: str | None = None) -> Counted:
    """Seed t1..t4, show them with the cursor on t2, run ``scenario``; count what it cost."""
    async with StubServer(host="127.0.0.1", port=0) as stub:
        for minute, row_id in enumerate(SEEDED, start=31):
            await stub.store.set("todo", "inbox", row_id, todo(row_id, f"todo {row_id}", minute))
        app = make_app(stub.ws_url, sort=sort)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.table.shown_ids == list(SEEDED), what="the sync")
            await pilot.press("down")
            assert app.table.selected_id == "t2"
            feed, compares = app.stats.item_changes, app.stats.full_compares
            await scenario(stub, app, pilot, sort)
            return Counted(app.stats.item_changes - feed, app.stats.full_compares - compares)


async def live_changes(
    stub: StubServer, app: MotiaTui, pilot: Pilot[Any], sort: str | None
) -> None:
    """Add t5, rename t2 (the cursor's row), delete t1, move t3 first by its sort key."""
    untouched = app.table.get_row("t4")
    await stub.store.set("todo", "inbox", "t5", todo("t5", "new", 35))
    await stub.store.set("todo", "inbox", "t2", todo("t2", "renamed", 32))
    await stub.store.delete("todo", "inbox", "t1")
    await stub.store.set("todo", "inbox", "t3", todo("t3", "earliest now", 30))
    expected = ["t3", "t2", "t4", "t5"] if sort else ["t2", "t3", "t4", "t5"]
    await wait_until(
        pilot,
        lambda: app.table.shown_ids == expected and description(app, "t3") == "earliest now",
        what=f"the rows {expected}",
    )
    assert description(app, "t2") == "renamed"
    assert description(app, "t5") == "new"
    assert app.table.selected_id == "t2"  # the cursor stays on its row, wherever it went
    assert all(a is b for a, b in zip(app.table.get_row("t4"), untouched, strict=True))
    assert app.table.border_subtitle == "4 items"


async def resync(stub: StubServer, app: MotiaTui, pilot: Pilot[Any], sort: str | None) -> None:
    """Changes the app cannot see (a stalled room), then a dropped connection: the net shows."""
    untouched = [app.table.get_row(row_id) for row_id in ("t3", "t4")]
    stub.stall("todo", "inbox")
    await stub.store.set("todo", "inbox", "t2", todo("t2", "renamed while away", 32))
    await stub.store.delete("todo", "inbox", "t1")
    await stub.store.set("todo", "inbox", "t5", todo("t5", "new while away", 35))
    await stub.store.set("todo", "inbox", "t6", todo("t6", "gone again", 36))
    await stub.store.delete("todo", "inbox", "t6")
    await pilot.pause(0.2)
    assert app.table.shown_ids == list(SEEDED)  # nothing arrived: the room is stalled
    stub.unstall("todo", "inbox")
    await stub.drop_connections()
    expected = ["t2", "t3", "t4", "t5"]
    await wait_until(pilot, lambda: app.table.shown_ids == expected, timeout=10, what="the resync")
    assert description(app, "t2") == "renamed while away"
    assert app.table.selected_id == "t2"
    for row_id, cells in zip(("t3", "t4"), untouched, strict=True):  # equal copies: untouched
        assert all(a is b for a, b in zip(app.table.get_row(row_id), cells, strict=True))


@pytest.mark.parametrize("sort", [None, "createdAt"])
async def test_live_changes_show_in_place_and_the_cursor_stays(sort: str | None) -> None:
    await run(live_changes, sort)


@pytest.mark.parametrize("sort", [None, "createdAt"])
async def test_live_changes_come_through_the_feed(sort: str | None) -> None:
    counted = await run(live_changes, sort)
    assert counted == Counted(item_changes=4, full_compares=0)


async def test_a_resync_after_a_dropped_connection_shows_the_net_difference() -> None:
    await run(resync)


async def test_a_resync_comes_through_the_feed() -> None:
    counted = await run(resync)
    assert counted == Counted(item_changes=3, full_compares=0)


async def test_a_change_the_feed_misses_is_still_shown() -> None:
    async def silent_feed(
        stub: StubServer, app: MotiaTui, pilot: Pilot[Any], sort: str | None
    ) -> None:
        assert app._rows is not None
        app._rows.off_item_change(app._on_row_change)  # a feed that reports nothing
        await stub.store.set("todo", "inbox", "t5", todo("t5", "unreported", 35))
        await stub.store.delete("todo", "inbox", "t1")
        expected = ["t2", "t3", "t4", "t5"]
        await wait_until(pilot, lambda: app.table.shown_ids == expected, what="the rows")
        assert app.table.selected_id == "t2"

    counted = await run(silent_feed)
    assert counted.item_changes == 0
    assert counted.full_compares >= 1
