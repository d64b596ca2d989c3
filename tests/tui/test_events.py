"""The events log against Motia 0.17's state echoes: one line per custom event, echoes hidden.

The frames come from a ``FakeMotiaServer``, in the orders a Motia 0.17 server with
its Redis adapter sends them (the echo just after or just before its real frame).
"""

from __future__ import annotations

from typing import Any

from tests.tui.helpers import echo, fake_server, log_lines, make_app, todo, wait_until

URL = "ws://motia.test:3000"
SIZE = (80, 24)
ECHO_WAIT = 0.7  # longer than the app holds a state-typed event for its change


async def test_state_echoes_are_hidden_and_counted_and_real_events_stay() -> None:
    t1 = todo("t1", "water the plants")
    server = fake_server({("todo", "inbox"): [t1]})
    app = make_app(URL, transport=server.transport)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.table.row_count == 1, what="the synced row")
        renamed = {**t1, "description": "water the plants, twice"}
        await server.set("todo", "inbox", renamed)
        await echo(server, "todo", "inbox", "update", renamed)  # the echo after its frame
        t2 = todo("t2", "buy oat milk")
        await echo(server, "todo", "inbox", "create", t2)  # the echo before its frame
        await server.set("todo", "inbox", t2)
        await echo(server, "todo", "inbox", "ping", {"step": 7})  # a real custom event
        await server.delete("todo", "inbox", "t2")
        await echo(server, "todo", "inbox", "delete", t2)
        await echo(server, "todo", "inbox", "update", {"progress": 5})  # named update, no item
        ghost = {"id": "ghost", "note": "never created"}
        await echo(server, "todo", "inbox", "create", ghost)  # matches nothing: shown, late
        await wait_until(pilot, lambda: len(log_lines(app, "event")) == 3, what="three events")
        assert log_lines(app, "event") == [
            'ping {"step":7}',
            'update {"progress":5}',
            'create {"id":"ghost","note":"never created"}',
        ]
        assert app.events.echoes == 3
        assert app.events.border_subtitle == "3 state echoes hidden"
        assert app.table.shown_ids == ["t1"]
        assert str(app.table.get_cell("t1", "description")) == "water the plants, twice"


async def test_a_custom_event_takes_one_line_of_the_log() -> None:
    server = fake_server({("todo", "inbox"): []})
    app = make_app(URL, transport=server.transport)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: bool(log_lines(app)), what="the connected line")
        await pilot.pause(0.1)
        before = len(app.events.lines)
        payload: dict[str, Any] = {"items": [{"id": f"i{n}", "text": "x" * 20} for n in range(9)]}
        await echo(server, "todo", "inbox", "report", payload)
        await echo(server, "todo", "inbox", "ping", None)
        await wait_until(pilot, lambda: len(log_lines(app, "event")) == 2, what="two events")
        await pilot.pause(0.1)
        assert len(app.events.lines) == before + 2  # one line each, however long the data
        assert log_lines(app, "event")[1] == "ping"
        assert log_lines(app, "event")[0].startswith('report {"items":[{"id":"i0"')


async def test_an_ai_answer_with_echoes_leaves_the_log_quiet() -> None:
    """The issue's case: 7 log lines (two each) for one AI answer against Motia 0.17."""
    server = fake_server({("openai", "openai"): []})
    app = make_app(URL, transport=server.transport, ai_group="openai")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(server.connections) == 1 and app.client is not None)
        await wait_until(pilot, lambda: bool(app.client and app.client.is_connected))
        await pilot.pause(0.1)
        answer = {"id": "5b1e", "_createdAt": 1_767_605_400_100, "message": ""}
        await server.set("openai", "openai", answer)
        await echo(server, "openai", "openai", "create", answer)
        for token in ("Streams ", "push ", "state ", "to ", "clients."):
            answer = {**answer, "message": answer["message"] + token}
            await server.set("openai", "openai", answer)
            await echo(server, "openai", "openai", "update", answer)
        await wait_until(pilot, lambda: app.ai_panel.message == "Streams push state to clients.")
        await wait_until(pilot, lambda: app.events.echoes == 6, what="six echoes")
        assert log_lines(app, "event") == []


async def test_against_the_stub_echoing_state_events_only_real_events_are_logged() -> None:
    """``motia-stub --echo-state-events`` sends Motia 0.17's echo after every state frame."""
    from server_stub import StubServer

    async with StubServer(host="127.0.0.1", port=0, echo_state_events=True) as stub:
        app = make_app(stub.ws_url, http_url=stub.http_url, group="work", ai_group="openai")
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.client is not None and app.client.is_connected)
            await pilot.pause(0.2)  # both joins answered
            await stub.store.set("todo", "work", "t1", todo("t1", "water the plants"))
            await stub.store.set("todo", "work", "t1", todo("t1", "water the plants, twice"))
            await stub.store.send_event("todo", "work", "ping", {"step": 7})
            await stub.store.set("todo", "work", "t2", todo("t2", "gone soon"))
            await stub.store.delete("todo", "work", "t2")
            written = ""
            for token in ("Streams ", "push ", "state."):
                written += token
                answer = {"id": "a1", "message": written}
                await stub.store.set("openai", "openai", "a1", answer)
            await wait_until(pilot, lambda: app.ai_panel.message == written, what="the answer")
            await wait_until(pilot, lambda: app.events.echoes == 7, what="seven echoes hidden")
            await pilot.pause(ECHO_WAIT)  # anything held would be shown by now
            assert log_lines(app, "event") == ['ping {"step":7}']
            assert app.events.border_subtitle == "7 state echoes hidden"
            assert app.table.shown_ids == ["t1"]
