"""Notebook displays: rendering, throttled in-place updates, both clients, observables.

The live displays are driven through a recording :class:`Publisher` (what IPython
would show); the real IPython path runs in ``tests/e2e/test_notebook.py``. The
server is the reference one, in process on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import asyncio
import html
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pydantic
import pytest

from motia_client import AsyncStreamClient, ConnectionState, Items, StreamClient, _notebook
from motia_client.rx import use_motia_stream, use_stream_event_handler, use_stream_item
from server_stub import StubServer

WAIT = 5.0


def todo(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"t{n}", "description": f"todo {n}", "createdAt": f"2024-01-0{n}", **extra}


class Recording:
    """A Publisher that records what would be shown, and from which thread."""

    live = True

    def __init__(self) -> None:
        self.shown: list[dict[str, str]] = []
        self.updates: list[dict[str, str]] = []
        self.threads: set[int] = set()
        self.cell_end: list[Callable[[], None]] = []

    def show(self, bundle: dict[str, str]) -> Recording:
        self.shown.append(bundle)
        return self

    def update(self, bundle: dict[str, str]) -> None:
        self.threads.add(threading.get_ident())
        self.updates.append(bundle)

    def on_cell_end(self, callback: Callable[[], None]) -> None:
        self.cell_end.append(callback)

    @property
    def text(self) -> str:
        """The plain text currently displayed."""
        return (self.updates or self.shown)[-1]["text/plain"]


async def eventually(predicate: Callable[[], bool], what: str = "condition") -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def joined(stub: StubServer, expected: int) -> None:
    """Wait until the todo inbox has ``expected`` server-side joins (the seed's counter)."""
    deadline = time.monotonic() + WAIT
    while True:
        counter = await stub.store.get("inbox", "watching", "inbox")
        if (counter["watching"] if counter else 0) == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {expected} joins")
        await asyncio.sleep(0.01)


async def after_redraws_armed_by_now(throttle: float) -> None:
    """Return once every redraw a display could have armed by now has run.

    A display arms its redraw with ``call_later(delay <= throttle)``; the loop runs
    timers in deadline order, so a timer armed now for ``throttle`` (and a hair)
    fires after all of them: a deterministic marker, not a guess at a sleep.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    loop.call_later(throttle + 0.001, done.set_result, None)
    await done


# -- rendering ----------------------------------------------------------------------------


def test_a_group_renders_as_a_table() -> None:
    items = [
        {"id": "t1", "description": "<script>alert(1)</script>", "_createdAt": 5, "tags": ["a"]},
        {"description": "no id", "id": "t2", "done": True, "note": "x" * 200},
    ]
    bundle = _notebook.render("group", "todo/inbox", items, state=ConnectionState.OPEN)
    page, text = bundle["text/html"], bundle["text/plain"]
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<th>id</th><th>description</th><th>tags</th><th>done</th><th>note</th>" in page
    assert "_createdAt" not in page  # server fields stay out of the way
    assert "<td>[&quot;a&quot;]</td>" in page
    assert "x" * 59 + "…" in page
    assert "x" * 60 not in page
    lines = text.splitlines()
    assert lines[0] == "todo/inbox · 2 items · open"
    assert lines[1].split() == ["id", "description", "tags", "done", "note"]
    assert lines[3].startswith("t2  no id")


def test_a_long_group_is_cut_and_counted() -> None:
    items = [{"id": f"t{n}"} for n in range(_notebook.MAX_ROWS + 7)]
    bundle = _notebook.render("group", "g", items, state=ConnectionState.RECONNECTING)
    assert bundle["text/html"].count("<tr>") == _notebook.MAX_ROWS + 2  # head + rows + "more"
    assert "… and 7 more" in bundle["text/html"]
    assert bundle["text/plain"].startswith(f"g · {_notebook.MAX_ROWS + 7} items · reconnecting")
    empty = _notebook.render("group", "g", [], state=ConnectionState.OPEN)
    assert empty["text/plain"] == "g · 0 items · open\n(no items)"


def test_an_item_renders_as_a_card() -> None:
    class Todo(pydantic.BaseModel):
        id: str
        description: str

    card = _notebook.render(
        "item", "todo/inbox/t1", Todo(id="t1", description="milk"), state=ConnectionState.OPEN
    )
    assert card["text/plain"].splitlines() == [
        "todo/inbox/t1 · open",
        "id           t1",
        "description  milk",
    ]
    assert "<th" in card["text/html"]
    assert "milk" in card["text/html"]
    missing = _notebook.render("item", "todo/inbox/t9", None, state=ConnectionState.OPEN)
    assert missing["text/plain"].endswith("(no item)")
    waiting = _notebook.render(
        "item", "x", state=ConnectionState.CONNECTING, note="waiting for the first sync"
    )
    assert waiting["text/plain"] == "x · waiting for the first sync · connecting"


def test_pairs_state_and_events_render() -> None:
    pair = _notebook.render(
        "pair", "todo/inbox", ([{"id": "t1"}], False), state=ConnectionState.OPEN
    )
    assert pair["text/plain"].splitlines()[0] == "todo/inbox · 1 item · disconnected"
    state = _notebook.render(
        "state", "connection", ConnectionState.FAILED, state=ConnectionState.OPEN
    )
    assert state["text/plain"] == "connection · failed"
    assert "#cf222e" in state["text/html"]
    events = _notebook.render(
        "event", "todo/inbox · ping", ({"n": 1}, {"n": 2}), state=ConnectionState.OPEN
    )
    assert events["text/plain"].splitlines() == [
        "todo/inbox · ping · 2 recent · open",
        '{"n": 1}',
        '{"n": 2}',
    ]


def test_the_library_does_not_import_ipython() -> None:
    code = (
        "import sys, motia_client, motia_client.rx, motia_client._notebook; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('IPython', 'ipykernel')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# -- live displays: asyncio client ----------------------------------------------------------


@pytest.fixture
async def stub() -> AsyncIterator[StubServer]:
    async with StubServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
async def client(stub: StubServer) -> AsyncIterator[AsyncStreamClient]:
    async with AsyncStreamClient(stub.ws_url) as c:
        yield c


async def test_a_group_display_updates_in_place_throttled(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    todos = client.subscribe_group("todo", "inbox")
    await todos.wait_for(lambda items: True, WAIT)
    shown = Recording()
    todos._ipython_display_(publisher=shown, throttle=0.5)
    assert shown.text == "todo/inbox · 0 items · open\n(no items)"
    for n in range(1, 10):
        await stub.store.set("todo", "inbox", f"t{n}", todo(n))
    await eventually(lambda: "9 items" in shown.text, "the update")
    assert len(shown.updates) <= 2  # nine changes, throttled into one or two redraws
    assert shown.threads == {threading.get_ident()}  # on the client's loop
    await client.close()
    assert shown.text.startswith("todo/inbox · 9 items · closed")  # the final state, at once
    count = len(shown.updates)
    await after_redraws_armed_by_now(0.5)
    assert len(shown.updates) == count  # and nothing after the end


async def test_a_pending_update_is_flushed_when_the_cell_ends(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    todos = client.subscribe_group("todo", "inbox")
    await todos.wait_for(lambda items: True, WAIT)
    shown = Recording()
    todos._ipython_display_(publisher=shown, throttle=60)
    await stub.store.set("todo", "inbox", "t1", todo(1))
    await todos.wait_for(lambda items: len(items) == 1, WAIT)
    assert shown.updates == []  # throttled: the next redraw is a minute away
    assert len(shown.cell_end) == 1
    shown.cell_end[0]()  # what IPython's post_execute does when the cell finishes
    assert shown.text.startswith("todo/inbox · 1 item · open")


async def test_an_item_display_and_html_snapshot(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    item = client.subscribe_item("todo", "inbox", "t1")
    assert "waiting for the first sync" in item._repr_html_()
    shown = Recording()
    item._ipython_display_(publisher=shown, throttle=0.01)
    await joined(stub, 1)
    await stub.store.set("todo", "inbox", "t1", todo(1, description="milk"))
    await eventually(lambda: "milk" in shown.text, "the card")
    assert "milk" in item._repr_html_()
    await item.close()
    await stub.store.set("todo", "inbox", "t1", todo(1, description="bread"))
    again = client.subscribe_item("todo", "inbox", "t1")  # on the same socket, after the set
    await again.wait_for(lambda value: value is not None and value["description"] == "bread", WAIT)
    await after_redraws_armed_by_now(0.01)
    assert "bread" not in shown.text
    assert "milk" in shown.text


async def test_outside_a_kernel_a_snapshot_is_printed(
    stub: StubServer, client: AsyncStreamClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await stub.store.set("todo", "inbox", "t1", todo(1))
    todos = client.subscribe_group("todo", "inbox")
    await todos.wait_for(lambda items: len(items) == 1, WAIT)
    todos._ipython_display_()  # no IPython shell here: print once, no live updates
    assert capsys.readouterr().out.startswith("todo/inbox · 1 item · open\nid  description")


# -- live displays: DataFrames --------------------------------------------------------------


async def test_a_frame_view_updates_in_place_throttled(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    todos = client.subscribe_group("todo", "inbox", sort_key="createdAt")
    await todos.wait_for(lambda items: True, WAIT)
    shown = Recording()
    todos.frame_view()._ipython_display_(publisher=shown, throttle=60)
    assert shown.text.splitlines()[0] == "todo/inbox · 0 items · open"
    assert 'class="dataframe"' in shown.shown[0]["text/html"]  # pandas' own table
    for n in (3, 1, 2):
        await stub.store.set("todo", "inbox", f"t{n}", todo(n))
    await todos.wait_for(lambda items: len(items) == 3, WAIT)
    # Every change reached the display, which redraws at most once per throttle period:
    # the next redraw is a minute away, so the frame on screen is still the empty one.
    assert shown.updates == []
    shown.cell_end[0]()  # the cell ends: the pending redraw happens now, with all three
    assert len(shown.shown) == 1  # one display, updated in place
    assert len(shown.updates) == 1
    lines = shown.text.splitlines()
    assert lines[0] == "todo/inbox · 3 items · open"
    assert [line.split()[0] for line in lines[-3:]] == ["t1", "t2", "t3"]  # in order
    page = shown.updates[0]["text/html"]
    assert page.index("<th>t1</th>") < page.index("<th>t2</th>") < page.index("<th>t3</th>")
    assert "<td>todo 2</td>" in page
    await client.close()
    assert shown.text.splitlines()[0] == "todo/inbox · 3 items · closed"  # the final state


async def test_a_frame_view_redraws_on_its_own_and_cuts_to_max_rows(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    todos = client.subscribe_group("todo", "inbox")
    await todos.wait_for(lambda items: True, WAIT)
    shown = Recording()
    todos.frame_view("polars", max_rows=2)._ipython_display_(publisher=shown, throttle=0.05)
    assert "shape: (0, 1)" in shown.text  # polars' own rendering: only the id column
    for n in range(1, 6):
        await stub.store.set("todo", "inbox", f"t{n}", todo(n))
    await eventually(lambda: "5 items" in shown.text, "the redraw")
    assert shown.text.splitlines()[0] == "todo/inbox · 5 items · the first 2 shown · open"
    assert "shape: (2, 3)" in shown.text  # id, description, createdAt
    assert "todo 1" in shown.text
    assert "todo 3" not in shown.text
    assert shown.threads == {threading.get_ident()}  # drawn on the client's loop


async def test_a_frame_view_html_snapshot(stub: StubServer, client: AsyncStreamClient) -> None:
    await stub.store.set("todo", "inbox", "t1", todo(1, description="<b>milk</b>"))
    item = client.subscribe_item("todo", "inbox", "t1")
    view = item.frame_view()
    assert "waiting for the first sync" in view._repr_html_()
    await item.wait_for(lambda value: value is not None, WAIT)
    page = view._repr_html_()
    assert "todo/inbox/t1</strong> · 1 item ·" in page
    assert "&lt;b&gt;milk&lt;/b&gt;" in page
    assert "<b>milk" not in page
    assert repr(view) == "<FrameView (pandas) of <ItemSubscription todo/inbox/t1 synced>>"


def test_a_blocking_frame_view_draws_on_its_thread() -> None:
    with (
        StubServer(host="127.0.0.1", port=0).in_thread() as stub,
        StreamClient(stub.ws_url) as client,
    ):
        stub.run(stub.store.set("todo", "inbox", "t1", todo(1)))
        todos = client.subscribe_group("todo", "inbox")
        todos.wait_for(lambda items: len(items) == 1, WAIT)
        shown = Recording()
        todos.frame_view()._ipython_display_(publisher=shown, throttle=0.01)
        assert shown.text.startswith("todo/inbox · 1 item · open")
        stub.run(stub.store.set("todo", "inbox", "t2", todo(2)))
        deadline = time.monotonic() + WAIT
        while "2 items" not in shown.text and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "todo 2" in shown.text
        assert shown.threads == {loop_thread().ident}
        client.close()
        assert shown.text.startswith("todo/inbox · 2 items · closed")


def test_a_frame_renders_without_pandas_html() -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": ["<i>"]}, index=pd.Index(["a"], name="id"))
    with pd.option_context("display.notebook_repr_html", False):
        bundle = _notebook.render("frame", "g", (frame, 3), state=ConnectionState.OPEN)
    page = bundle["text/html"]
    assert page[page.index("<pre>") :] == f"<pre>{html.escape(str(frame))}</pre></div>"
    assert "&lt;i&gt;" in page
    assert bundle["text/plain"].splitlines()[0] == "g · 3 items · the first 1 shown · open"


# -- live displays: observables ------------------------------------------------------------


async def test_an_observable_displays_itself_live(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    shown = Recording()
    pings = use_stream_event_handler(client, "todo", "inbox", "ping")
    pings._ipython_display_(publisher=shown, throttle=0.01)
    assert shown.text == "todo/inbox · ping · 0 recent · open\n(no events yet)"
    await joined(stub, 1)
    await stub.store.send_event("todo", "inbox", "ping", {"n": 1})
    await eventually(lambda: '{"n": 1}' in shown.text, "the event")

    card = Recording()
    use_stream_item(client, "todo", "inbox", "t1")._ipython_display_(publisher=card, throttle=0.01)
    assert "waiting for the first value" in card.text
    await stub.store.set("todo", "inbox", "t1", todo(1))
    await eventually(lambda: "todo 1" in card.text, "the item")

    state = Recording()
    use_motia_stream(client)._ipython_display_(publisher=state, throttle=0.01)
    await eventually(lambda: state.text == "connection · open")
    await client.close()
    assert state.text == "connection · closed"
    assert card.text.startswith("todo/inbox/t1 · closed")


# -- live displays: blocking client ---------------------------------------------------------


def test_a_blocking_subscription_displays_from_its_thread() -> None:
    with (
        StubServer(host="127.0.0.1", port=0).in_thread() as stub,
        StreamClient(stub.ws_url) as client,
    ):
        stub.run(stub.store.set("todo", "inbox", "t1", todo(1)))
        todos = client.subscribe_group("todo", "inbox")
        todos.wait_for(lambda items: len(items) == 1, WAIT)
        assert "<td>todo 1</td>" in todos._repr_html_()
        shown = Recording()
        todos._ipython_display_(publisher=shown, throttle=0.01)
        assert shown.text.startswith("todo/inbox · 1 item · open")
        stub.run(stub.store.set("todo", "inbox", "t2", todo(2)))
        deadline = time.monotonic() + WAIT
        while "2 items" not in shown.text and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "todo 2" in shown.text
        assert shown.threads == {loop_thread().ident}
        client.close()
        assert shown.text.startswith("todo/inbox · 2 items · closed")
        assert "<td>todo 2</td>" in todos._repr_html_()  # still readable after the close


def test_items_snapshots_render_like_lists() -> None:
    items: Items[Any] = Items(None, ({"id": "a"},))
    assert _notebook.render("group", "g", items, state=ConnectionState.OPEN)["text/plain"] == (
        "g · 1 item · open\nid\na"
    )


def test_in_plain_ipython_subscriptions_print_a_snapshot() -> None:
    """Through IPython's own display machinery, outside a kernel: printed once, not live."""
    script = """
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_cell("from motia_client import StreamClient")
shell.run_cell("client = StreamClient('ws://127.0.0.1:9/')")
shell.run_cell("client.subscribe_item('todo', 'inbox', 't1')")
shell.run_cell("client.subscribe_group('todo', 'inbox')")
shell.run_cell("client.close()")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = result.stdout.splitlines()  # each after IPython's "Out[n]: " prompt
    assert len(lines) == 2
    assert lines[0].endswith("todo/inbox/t1 · waiting for the first sync · idle")
    assert lines[1].endswith("todo/inbox · waiting for the first sync · idle")


def loop_thread() -> threading.Thread:
    """The private loop thread of the (one) blocking client running."""
    (thread,) = [t for t in threading.enumerate() if t.name == "motia-client-loop"]
    return thread
