"""Every todo column shows at 80x24, the default terminal, and the layout holds when larger."""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.helpers import fake_server, make_app, wait_until

URL = "ws://motia.test:3000"
LONG = "Write the release notes for the stream client, with every change since 0.1"
TODOS = [
    {
        "id": "todo-1",
        "description": LONG,
        "createdAt": "2026-01-05T09:30:00.000Z",
        "dueDate": "2026-01-09T17:00:00.000Z",
        "completedAt": "2026-01-05T10:02:17.000Z",
    },
    {"id": "todo-2", "description": "Water the plants", "createdAt": "2026-01-05T09:41:12.000Z"},
]
ROOMS: dict[tuple[str, str], Any] = {
    ("todo", "inbox"): TODOS,
    ("openai", "trace-1"): [{"id": "message", "message": "Streams push state."}],
}


@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 40), (200, 60)])
async def test_every_todo_column_shows_without_scrolling(width: int, height: int) -> None:
    app = make_app(URL, transport=fake_server(ROOMS).transport, ai_group="trace-1")
    async with app.run_test(size=(width, height)) as pilot:
        table = app.table
        await wait_until(pilot, lambda: table.row_count == 2, what="the rows")
        await wait_until(pilot, lambda: app.ai_panel.message == "Streams push state.")
        await pilot.pause(0.1)
        keys = [column.key.value for column in table.ordered_columns]
        assert keys == ["description", "createdAt", "dueDate", "completedAt"]
        needed = sum(column.get_render_width(table) for column in table.ordered_columns)
        assert needed <= table.scrollable_content_region.width  # nothing to scroll to
        assert table.max_scroll_x == 0
        assert str(table.get_cell("todo-1", "completedAt")) == "✓ 10:02"
        assert table.region.right <= width
        # The description is cut to its column with an ellipsis, never wrapped.
        description = table.ordered_columns[0]
        assert description.width >= 20
        shown = table.get_row_at(0)[0]
        assert shown.no_wrap
        assert shown.overflow == "ellipsis"
        # Narrow: the AI panel under the table; wide: beside it.
        table_box, ai_box = table.region, app.ai_panel.region
        if width < 110:
            assert ai_box.y >= table_box.bottom
            assert table_box.width == width
        else:
            assert ai_box.x >= table_box.right
            assert ai_box.y == table_box.y
        assert table_box.height - 3 >= min(len(TODOS), height // 4)  # rows fit on screen


async def test_a_resize_refits_the_description() -> None:
    app = make_app(URL, transport=fake_server(ROOMS).transport)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_until(pilot, lambda: app.table.row_count == 2, what="the rows")
        wide = app.table.flex_width
        app.table.move_cursor(row=1)
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: app.table.flex_width != wide, what="a refit")
        await pilot.pause(0.1)
        table = app.table
        assert table.max_scroll_x == 0
        assert table.shown_ids == ["todo-1", "todo-2"]
        assert table.selected_id == "todo-2"  # the cursor stays on its row
        assert table.flex_width is not None
        assert wide is not None
        assert table.flex_width < wide
