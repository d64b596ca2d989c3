"""Behaviour of the app against a real StubServer, driven with Textual's Pilot."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from motia_client import ConnectionState
from server_stub import StubServer, textgen
from tests.tui.helpers import SIZE, log_lines, make_app, todo, wait_until


@pytest.fixture
async def stub() -> AsyncIterator[StubServer]:
    async with StubServer(host="127.0.0.1", port=0) as server:
        yield server


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def done_cell(app, row_id: str) -> str:  # type: ignore[no-untyped-def]
    return str(app.table.get_cell(row_id, "completedAt"))


async def test_rows_appear_when_the_server_creates_todos(stub: StubServer) -> None:
    await stub.store.set("todo", "inbox", "t1", todo("t1", "Water the plants"))
    app = make_app(stub.ws_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.shown_ids == ["t1"], what="the synced row")
        t2 = todo("t2", "Buy oat milk", dueDate="2026-02-01")
        await stub.store.set("todo", "inbox", "t2", t2)
        await stub.store.set("todo", "inbox", "t3", todo("t3", "Call the plumber"))
        await wait_until(pilot, lambda: app.table.shown_ids == ["t1", "t2", "t3"], what="new rows")
        assert str(app.table.get_cell("t2", "description")) == "Buy oat milk"
        assert str(app.table.get_cell("t2", "dueDate")) == "2026-02-01"
        assert str(app.table.get_cell("t1", "createdAt")) == "2026-01-05 09:30"
        assert app.table.border_subtitle == "3 items"
        await stub.store.delete("todo", "inbox", "t1")
        await wait_until(pilot, lambda: app.table.shown_ids == ["t2", "t3"], what="a removed row")


async def test_completing_marks_the_row_and_keeps_the_cursor(stub: StubServer) -> None:
    for n in range(1, 4):
        await stub.store.set("todo", "inbox", f"t{n}", todo(f"t{n}", f"todo {n}"))
    app = make_app(stub.ws_url, http_url=stub.http_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.row_count == 3, what="three rows")
        await pilot.press("down")
        assert app.table.selected_id == "t2"
        await pilot.press("c")
        await wait_until(pilot, lambda: done_cell(app, "t2").startswith("✓"), what="t2 done")
        assert (await stub.store.get("todo", "inbox", "t2") or {}).get("completedAt")
        assert done_cell(app, "t1") == ""
        assert app.table.selected_id == "t2"
        await wait_until(pilot, lambda: "complete 'todo 2': ok" in log_lines(app, "info"))
        # A row above the cursor goes away: the cursor stays on its row, not its index.
        await stub.store.delete("todo", "inbox", "t1")
        await wait_until(pilot, lambda: app.table.row_count == 2, what="t1 removed")
        assert app.table.selected_id == "t2"
        assert app.table.cursor_row == 0
        # Updates elsewhere touch the cells in place; the cursor does not move.
        await stub.store.set("todo", "inbox", "t3", todo("t3", "todo 3, renamed"))
        await wait_until(
            pilot,
            lambda: str(app.table.get_cell("t3", "description")) == "todo 3, renamed",
            what="t3 renamed",
        )
        assert app.table.selected_id == "t2"


async def test_delete_key_deletes_the_selected_todo(stub: StubServer) -> None:
    await stub.store.set("todo", "inbox", "t1", todo("t1", "keep"))
    await stub.store.set("todo", "inbox", "t2", todo("t2", "remove me"))
    app = make_app(stub.ws_url, http_url=stub.http_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.row_count == 2, what="two rows")
        await pilot.press("down", "d")
        await wait_until(pilot, lambda: app.table.shown_ids == ["t1"], what="t2 deleted")
        assert await stub.store.get("todo", "inbox", "t2") is None


async def test_add_key_posts_a_todo_over_http(stub: StubServer) -> None:
    app = make_app(stub.ws_url, http_url=stub.http_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.client is not None and app.client.is_connected)
        await pilot.press("a")
        await pilot.press(*"quick brown fox")  # "q" in the dialog types, it does not quit
        await pilot.press("tab", *"2026-03-01", "enter")
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the added row")
        (row_id,) = app.table.shown_ids
        stored = await stub.store.get("todo", "inbox", row_id)
        assert stored is not None
        assert stored["description"] == "quick brown fox"
        assert stored["dueDate"] == "2026-03-01"
        assert str(app.table.get_cell(row_id, "description")) == "quick brown fox"
        assert app.is_running


async def test_add_dialog_escape_cancels_and_empty_description_is_refused(
    stub: StubServer,
) -> None:
    app = make_app(stub.ws_url, http_url=stub.http_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "enter")  # empty: the dialog stays
        assert type(app.screen).__name__ == "AddTodoScreen"
        await pilot.press("escape")
        assert type(app.screen).__name__ != "AddTodoScreen"
        await pilot.pause(0.2)
        assert await stub.store.list_group("todo", "inbox") == []


async def test_an_http_error_lands_in_the_log(stub: StubServer) -> None:
    await stub.store.set("todo", "inbox", "t1", todo("t1", "a todo"))
    app = make_app(stub.ws_url, http_url=stub.http_url + "/no-such-prefix")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the row")
        await pilot.press("c")
        await wait_until(pilot, lambda: bool(log_lines(app, "error")), what="an error line")
        (line,) = log_lines(app, "error")
        assert "complete 'a todo' failed: HTTP 404" in line
        assert "Traceback" not in line
        assert app.is_running


async def test_an_unreachable_http_server_lands_in_the_log(stub: StubServer) -> None:
    await stub.store.set("todo", "inbox", "t1", todo("t1", "a todo"))
    app = make_app(stub.ws_url, http_url=f"http://127.0.0.1:{free_port()}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the row")
        await pilot.press("d")
        await wait_until(pilot, lambda: bool(log_lines(app, "error")), what="an error line")
        assert log_lines(app, "error")[0].startswith("delete 'a todo' failed:")
        assert app.is_running


async def test_complete_without_a_selection_says_so(stub: StubServer) -> None:
    app = make_app(stub.ws_url, http_url=stub.http_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await wait_until(pilot, lambda: bool(log_lines(app)), what="a log line")
        assert "complete: no row selected" in log_lines(app, "info")


async def test_the_indicator_flips_when_the_server_goes_away_and_comes_back() -> None:
    server = StubServer(host="127.0.0.1", port=0)
    await server.start()
    port = server.port
    await server.store.set("todo", "inbox", "old", todo("old", "from the first server"))
    app = make_app(server.ws_url)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.indicator.text.startswith("● connected"))
            await wait_until(pilot, lambda: app.table.shown_ids == ["old"])
            await server.stop()
            await wait_until(
                pilot,
                lambda: app.indicator.text.startswith("◌ reconnecting · attempt "),
                what="the reconnecting line",
            )
            assert app.indicator.has_class("-warn")
            server = StubServer(host="127.0.0.1", port=port)
            await server.start()
            await server.store.set("todo", "inbox", "new", todo("new", "from the second server"))
            await wait_until(
                pilot, lambda: app.indicator.text.startswith("● connected"), timeout=10
            )
            assert app.indicator.has_class("-ok")
            await wait_until(pilot, lambda: app.table.shown_ids == ["new"], what="the resync")
            # A dropped socket (no close frame) is survived the same way.
            await server.drop_connections()
            await server.store.set("todo", "inbox", "later", todo("later", "after the drop"))
            await wait_until(pilot, lambda: app.table.shown_ids == ["new", "later"], timeout=10)
            assert any(line.startswith("connection: ") for line in log_lines(app, "error"))
    finally:
        await server.stop()


async def test_an_unreachable_server_is_shown_not_raised() -> None:
    port = free_port()
    app = make_app(f"ws://127.0.0.1:{port}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: app.client is not None and app.client.state is ConnectionState.RECONNECTING,
        )
        await wait_until(pilot, lambda: "attempt 2" in app.indicator.text, what="a second attempt")
        assert app.indicator.text.startswith("◌ reconnecting · attempt ")
        assert any(f"127.0.0.1:{port}" in line for line in log_lines(app, "error"))
        assert app.table.row_count == 0
        assert app.is_running


async def test_refused_credentials_are_shown() -> None:
    async with StubServer(host="127.0.0.1", port=0, token="the-right-token") as server:
        app = make_app(server.ws_url, token="the-wrong-token")
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.indicator.text.startswith("✖ refused"))
            assert "HTTP 401" in app.indicator.text
            assert app.indicator.has_class("-bad")
            assert app.client is not None
            assert app.client.state is ConnectionState.FAILED
            assert not any("the-wrong-token" in line for line in log_lines(app))
            assert app.is_running


async def test_a_refused_join_is_shown(stub: StubServer) -> None:
    app = make_app(stub.ws_url, stream="private-messages", group="alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.indicator.text.startswith("✖ refused"))
        assert "private-messages/alice" in app.indicator.text
        assert any("refused" in line for line in log_lines(app, "error"))


async def test_the_ai_panel_grows_token_by_token(stub: StubServer) -> None:
    app = make_app(stub.ws_url, ai_group="trace-1")
    async with app.run_test(size=SIZE) as pilot:
        assert app.ai_panel.border_title == "AI · openai/trace-1"
        await wait_until(pilot, lambda: app.client is not None and app.client.is_connected)
        seen: list[str] = []
        written = ""
        for token in ("Motia ", "streams ", "push ", "state."):
            written += token
            await stub.store.set("openai", "trace-1", "message", {"message": written})
            await wait_until(
                pilot, lambda text=written: app.ai_panel.message == text, what=repr(written)
            )
            seen.append(app.ai_panel.message)
        assert seen == [
            "Motia ",
            "Motia streams ",
            "Motia streams push ",
            "Motia streams push state.",
        ]
        assert app.ai_panel.border_subtitle == f"{len(written)} chars"
        assert app.ai_panel.border_title == "AI · openai/trace-1/message"


async def test_the_open_ai_flow_fills_the_panel_token_by_token(stub: StubServer) -> None:
    """POST /open-ai returns the trace id; the flow then writes the answer token by token."""
    import httpx

    async with httpx.AsyncClient(base_url=stub.http_url) as http:
        answer = await http.post("/open-ai", params={"delay_ms": 60}, json={"message": "hi"})
    trace_id = answer.json()["traceId"]
    full = textgen.reply("hi")
    assert len(textgen.tokens(full)) >= 20
    app = make_app(stub.ws_url, ai_group=trace_id)
    async with app.run_test(size=SIZE) as pilot:
        lengths: list[int] = []

        def done() -> bool:
            if not lengths or lengths[-1] != len(app.ai_panel.message):
                lengths.append(len(app.ai_panel.message))
            return app.ai_panel.message == full

        await wait_until(pilot, done, timeout=20, what="the full answer")
        assert len(set(lengths)) >= 4, lengths  # it grew in steps, not in one go
        assert lengths == sorted(lengths)
        assert app.ai_panel.border_title == f"AI · openai/{trace_id}/message"


async def test_the_ai_panel_follows_a_new_item_per_answer(stub: StubServer) -> None:
    """The real Motia 0.17 app writes each answer as a new item openai/openai/<uuid>."""
    await stub.store.set("openai", "openai", "a-old", {"id": "a-old", "message": "old answer"})
    app = make_app(stub.ws_url, ai_group="openai")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.ai_panel.message == "old answer", what="the synced one")
        assert app.ai_panel.border_title == "AI · openai/openai/a-old"
        for answer_id, tokens in (
            ("7f3c-first", ("Motia ", "streams ", "push ", "state.")),
            ("c41d-second", ("Each ", "answer ", "is ", "a ", "new ", "item.")),
        ):
            written = ""
            for token in tokens:
                written += token
                item = {"id": answer_id, "message": written, "_createdAt": 1_767_605_400_000}
                await stub.store.set("openai", "openai", answer_id, item)
                await wait_until(
                    pilot, lambda text=written: app.ai_panel.message == text, what=repr(written)
                )
                assert app.ai_panel.border_title == f"AI · openai/openai/{answer_id}"
        assert app.ai_panel.message == "Each answer is a new item."
        assert app.ai_panel.border_subtitle == "26 chars"
        # An update of an older answer does not take the panel back to it.
        await stub.store.set("openai", "openai", "a-old", {"id": "a-old", "message": "edited"})
        await pilot.pause(0.2)
        assert app.ai_panel.message == "Each answer is a new item."
        # When the followed answer is deleted, the newest remaining one is shown.
        await stub.store.delete("openai", "openai", "c41d-second")
        await wait_until(pilot, lambda: app.ai_panel.message == "Motia streams push state.")


async def test_the_ai_panel_follows_a_given_item(stub: StubServer) -> None:
    await stub.store.set("openai", "openai", "one", {"id": "one", "message": "the first"})
    app = make_app(stub.ws_url, ai_group="openai", ai_item="one")
    async with app.run_test(size=SIZE) as pilot:
        assert app.ai_panel.border_title == "AI · openai/openai/one"
        await wait_until(pilot, lambda: app.ai_panel.message == "the first", what="the item")
        await stub.store.set("openai", "openai", "two", {"id": "two", "message": "newer"})
        await stub.store.set("openai", "openai", "one", {"id": "one", "message": "the first!"})
        await wait_until(pilot, lambda: app.ai_panel.message == "the first!", what="the update")
        assert app.ai_panel.border_title == "AI · openai/openai/one"


async def test_custom_events_land_in_the_log(stub: StubServer) -> None:
    app = make_app(stub.ws_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.client is not None and app.client.is_connected)
        await pilot.pause(0.1)
        await stub.store.send_event("todo", "inbox", "ping", {"step": 7})
        await stub.store.send_event("todo", "inbox", "notification", {"message": "done!"})
        await stub.store.send_event("todo", "inbox", "deploy", "v2")  # any type is logged
        await wait_until(pilot, lambda: len(log_lines(app, "event")) == 3, what="three events")
        assert log_lines(app, "event") == [
            'ping {"step":7}',
            'notification {"message":"done!"}',
            "deploy v2",
        ]


async def test_item_mode_shows_one_item(stub: StubServer) -> None:
    await stub.store.set("todo", "inbox", "t1", todo("t1", "not this one"))
    await stub.store.set("todo", "inbox", "t2", todo("t2", "this one"))
    app = make_app(stub.ws_url, item="t2")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.shown_ids == ["t2"])
        assert app.table.border_title == "todo/inbox/t2"
        await stub.store.delete("todo", "inbox", "t2")
        await wait_until(pilot, lambda: app.table.row_count == 0, what="the item deleted")
        assert app.table.border_subtitle == "0 items"


async def test_sort_orders_rows_and_moves_a_row_whose_key_changed(stub: StubServer) -> None:
    for row_id, rank in (("a", "3"), ("b", "1"), ("c", "2")):
        await stub.store.set("todo", "inbox", row_id, todo(row_id, f"rank {rank}", rank=rank))
    app = make_app(stub.ws_url, sort="rank")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.shown_ids == ["b", "c", "a"])
        assert [str(row[0]) for row in (app.table.get_row_at(i) for i in range(3))] == [
            "rank 1",
            "rank 2",
            "rank 3",
        ]
        await stub.store.set("todo", "inbox", "a", todo("a", "rank 0", rank="0"))
        await wait_until(pilot, lambda: app.table.shown_ids == ["a", "b", "c"], what="re-sorted")
        assert str(app.table.get_row_at(0)[0]) == "rank 0"


async def test_other_streams_get_columns_from_their_items(stub: StubServer) -> None:
    await stub.store.set("stats", "todo", "counters", {"created": 3})
    app = make_app(stub.ws_url, stream="stats", group="todo")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.shown_ids == ["counters"])
        keys = [column.key.value for column in app.table.ordered_columns]
        assert keys == ["id", "created"]
        assert str(app.table.get_cell("counters", "created")) == "3"
        assert app.table.border_subtitle == "1 item"


async def test_q_quits_and_closes_everything(stub: StubServer) -> None:
    app = make_app(stub.ws_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.client is not None and app.client.is_connected)
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.client is not None
    assert app.client.state is ConnectionState.CLOSED
    assert app.return_code in (0, None)


async def test_demo_mode_starts_its_own_server_and_stops_it() -> None:
    app = make_app("ws://unused.invalid", demo=True, ai_group="demo")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.row_count >= 1, timeout=10, what="demo todos")
        assert app.indicator.text.startswith("● connected to ws://127.0.0.1:")
        await wait_until(pilot, lambda: len(app.ai_panel.message) > 0, timeout=10)
        stub = app._stub
        assert stub is not None
    assert stub._serve_task is None  # stopped with the app


async def test_a_stream_the_server_does_not_have_is_shown_as_refused(stub: StubServer) -> None:
    app = make_app(stub.ws_url, stream="todos")  # a typo of todo
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.indicator.text.startswith("✖ refused"))
        assert "todos/inbox" in app.indicator.text
        assert any("todos" in line and "not found" in line for line in log_lines(app, "error"))
        assert app.table.row_count == 0
