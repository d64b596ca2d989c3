"""The look, pinned by pytest-textual-snapshot (textual and the plugin are pinned in the dev extra).

Data comes from an in-memory server (``FakeMotiaServer``) with fixed items, log lines carry a fixed
clock, animations are off and the terminal size is fixed, so every run draws
the same screen. Update after an intended change with ``--snapshot-update``
and look at the SVGs before committing them.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.helpers import fake_server, make_app, wait_until

URL = "ws://motia.test:3000"
SIZE = (80, 24)  # the default terminal
LARGE = (160, 48)
TODOS = [
    {
        "id": "todo-1",
        "description": "Water the plants",
        "createdAt": "2026-01-05T09:30:00.000Z",
        "completedAt": "2026-01-05T10:02:17.000Z",
    },
    {
        "id": "todo-2",
        "description": "Write the release notes",
        "createdAt": "2026-01-05T09:41:12.000Z",
        "dueDate": "2026-01-09",
    },
    {
        "id": "todo-3",
        "description": "Review the [bold]pull request[/bold]",
        "createdAt": "2026-01-05T11:07:45.000Z",
    },
]
MESSAGE = (
    "Motia streams push state to every subscriber: a group sync first, then "
    "create, update and delete frames as the server writes."
)
ROOMS: dict[tuple[str, str], Any] = {
    ("todo", "inbox"): TODOS,
    ("openai", "trace-1"): [{"id": "message", "message": MESSAGE}],
}


def live_app() -> Any:
    return make_app(URL, transport=fake_server(ROOMS).transport, ai_group="trace-1")


async def until_synced(pilot: Pilot[Any]) -> None:
    app: Any = pilot.app
    await wait_until(pilot, lambda: app.table.row_count == len(TODOS), what="the rows")
    await wait_until(pilot, lambda: app.ai_panel.message == MESSAGE, what="the AI message")
    await wait_until(pilot, lambda: app.indicator.text.startswith("● connected"))
    await wait_until(pilot, lambda: len(app.events.history) >= 1, what="the log line")


@pytest.mark.parametrize("size", [SIZE, LARGE], ids=["80x24", "160x48"])
def test_main_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(live_app(), terminal_size=size, run_before=until_synced)


def test_cursor_on_the_second_row(snap_compare: Any) -> None:
    assert snap_compare(live_app(), terminal_size=SIZE, run_before=until_synced, press=["down"])


def test_add_dialog_refusing_a_due_date(snap_compare: Any) -> None:
    async def open_dialog(pilot: Pilot[Any]) -> None:
        await until_synced(pilot)
        await pilot.press("a", *"Buy oat milk", "tab", *"friday", "enter")
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False

    assert snap_compare(live_app(), terminal_size=SIZE, run_before=open_dialog)


def test_unreachable_server(snap_compare: Any) -> None:
    app = make_app(URL, reconnect=False, transport=fake_server({}, refuse_connect=True).transport)

    async def until_failed(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: app.indicator.text.startswith("✖ failed"))
        await wait_until(pilot, lambda: len(app.events.history) >= 1, what="the log line")

    assert snap_compare(app, terminal_size=SIZE, run_before=until_failed)


def test_other_stream_columns_and_no_todo_keys(snap_compare: Any) -> None:
    rooms = {("stats", "todo"): [{"id": "counters", "created": 12, "deleted": 3, "_at": 1}]}
    app = make_app(URL, transport=fake_server(rooms).transport, stream="stats", group="todo")

    async def until_synced_stats(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the row")
        await wait_until(pilot, lambda: app.indicator.text.startswith("● connected"))

    assert snap_compare(app, terminal_size=SIZE, run_before=until_synced_stats)
