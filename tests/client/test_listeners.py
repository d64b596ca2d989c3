"""One listener rule everywhere (issue 15): a change listener added to a synced subscription
is called once at once with the current state; on one not yet synced it waits for the sync.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from motia_client import AsyncStreamClient, StreamClient
from motia_client.testing import FakeMotiaServer

pytestmark = pytest.mark.timeout(30)


def todo(todo_id: str) -> dict[str, Any]:
    return {"id": todo_id, "description": todo_id}


async def test_a_listener_added_after_the_sync_gets_the_current_state_at_once(
    fake: FakeMotiaServer,
) -> None:
    server = fake
    server.seed("todo", "inbox", todo("a"))
    async with AsyncStreamClient(server.url, transport=server.transport) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=5)
        seen: list[list[str]] = []
        sub.add_change_listener(lambda items: seen.append([i["id"] for i in items]))
        assert seen == [["a"]]  # at once, inside add_change_listener
        await server.set("todo", "inbox", todo("b"))
        await sub.wait_for(lambda items: len(items) == 2, timeout=5)
        assert seen == [["a"], ["a", "b"]]

        item = client.subscribe_item("todo", "inbox", "a")
        await item.wait_for(lambda value: value is not None, timeout=5)
        values: list[Any] = []
        item.add_change_listener(values.append)
        assert values == [todo("a")]


async def test_a_listener_added_before_the_sync_waits_for_it(fake: FakeMotiaServer) -> None:
    server = fake
    server.seed("todo", "inbox", todo("a"))
    async with AsyncStreamClient(server.url, transport=server.transport) as client:
        sub = client.subscribe_group("todo", "inbox")
        seen: list[list[str]] = []
        sub.add_change_listener(lambda items: seen.append([i["id"] for i in items]))
        assert seen == []
        await sub.wait_for(lambda items: len(items) == 1, timeout=5)
        assert seen == [["a"]]

        missing = client.subscribe_item("todo", "inbox", "nope")  # 0.x: no answer at all
        values: list[Any] = []
        missing.add_change_listener(values.append)
        await server.set("todo", "inbox", todo("nope"))
        await missing.wait_for(lambda value: value is not None, timeout=5)
        assert values == [todo("nope")]


def test_the_blocking_client_follows_the_same_rule() -> None:
    server = FakeMotiaServer()  # on the client's loop; this thread reaches it with call()
    server.seed("todo", "inbox", todo("a"))
    with StreamClient(server.url, transport=server.transport) as client:
        early = client.subscribe_group("todo", "inbox")
        before: list[list[str]] = []
        got_first = threading.Event()

        def on_change(items: Any) -> None:
            before.append([i["id"] for i in items])
            got_first.set()

        early.add_change_listener(on_change)
        assert got_first.wait(5)
        assert before == [["a"]]

        after: list[list[str]] = []
        early.add_change_listener(lambda items: after.append([i["id"] for i in items]))
        assert after == [["a"]]  # called before add_change_listener returned
        server.call(server.set, "todo", "inbox", todo("b"))
        early.wait_for(lambda items: len(items) == 2, timeout=5)
        assert before[-1] == ["a", "b"]
        assert after[-1] == ["a", "b"]
        assert len(after) == 2
