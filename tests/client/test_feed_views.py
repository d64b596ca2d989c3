"""The change feed of a group subscription, for each kind of view (found by the feeduse branch).

A group subscription's view is plain, sorted (``sort_key``), typed (``model``) or
both. Whatever the view, the feed must give one ``ItemChange`` per real change:
the first sync's items as ``added``, each live create, update and delete, and
after a reconnect the net difference with ``resync=True``. Every test runs on the
reference server; a resync is forced by stalling the room (``StubServer.stall``:
changes are not delivered), changing it, and dropping the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
import pytest

from motia_client import AsyncStreamClient, ItemChange, ReconnectPolicy
from server_stub import StubServer

pytestmark = pytest.mark.timeout(30)

FAST = ReconnectPolicy(initial=0.02, factor=2.0, cap=0.1, jitter=False)
Seen = tuple[str, str, bool]  # (kind, id, resync)


class Todo(pydantic.BaseModel):
    id: str
    description: str
    createdAt: str


def todo(todo_id: str, description: str) -> dict[str, Any]:
    return {"id": todo_id, "description": description, "createdAt": f"2026-01-05T09:3{todo_id}Z"}


VIEWS = {
    "plain": {},
    "sorted": {"sort_key": "createdAt"},
    "model": {"model": Todo},
    "sorted+model": {"sort_key": "createdAt", "model": Todo},
}


async def next_changes(queue: asyncio.Queue[ItemChange[Any]], count: int) -> list[Seen]:
    """The next ``count`` changes as (kind, id, resync); fail after 3 s without one."""
    seen = []
    for _ in range(count):
        change = await asyncio.wait_for(queue.get(), 3)
        seen.append((change.kind, change.id, change.resync))
    return seen


async def feed_of(client: AsyncStreamClient, view: str) -> asyncio.Queue[ItemChange[Any]]:
    todos = client.subscribe_group("todo", "inbox", **VIEWS[view])
    queue: asyncio.Queue[ItemChange[Any]] = asyncio.Queue()
    todos.on_item_change(queue.put_nowait)  # before the first sync
    return queue


@pytest.mark.parametrize(
    "view",
    [
        "plain",
        "sorted",
        "model",
        "sorted+model",
    ],
)
async def test_the_first_sync_gives_an_added_per_item(view: str) -> None:
    async with StubServer(host="127.0.0.1", port=0) as stub:
        await stub.store.set("todo", "inbox", "1", todo("1", "there before"))
        await stub.store.set("todo", "inbox", "2", todo("2", "there too"))
        async with AsyncStreamClient(stub.ws_url, reconnect=FAST) as client:
            queue = await feed_of(client, view)
            changes = await next_changes(queue, 2)
            assert sorted(changes) == [("added", "1", False), ("added", "2", False)]


@pytest.mark.parametrize("view", ["plain", "sorted", "model", "sorted+model"])
async def test_live_changes_give_one_change_each(view: str) -> None:
    stub = StubServer(host="127.0.0.1", port=0)
    async with stub, AsyncStreamClient(stub.ws_url, reconnect=FAST) as client:
        queue = await feed_of(client, view)
        await client.subscribe_group("todo", "inbox").wait_for(lambda _: True, timeout=5)
        await stub.store.set("todo", "inbox", "1", todo("1", "live"))
        assert await next_changes(queue, 1) == [("added", "1", False)]
        await stub.store.set("todo", "inbox", "1", todo("1", "renamed"))
        assert await next_changes(queue, 1) == [("modified", "1", False)]
        await stub.store.delete("todo", "inbox", "1")
        assert await next_changes(queue, 1) == [("removed", "1", False)]
        await asyncio.sleep(0.1)
        assert queue.empty()


@pytest.mark.parametrize(
    "view",
    [
        "plain",
        "sorted",
        "model",
        "sorted+model",
    ],
)
async def test_a_resync_gives_the_net_difference(view: str) -> None:
    async with StubServer(host="127.0.0.1", port=0) as stub:
        for n in "123":
            await stub.store.set("todo", "inbox", n, todo(n, f"todo {n}"))
        async with AsyncStreamClient(stub.ws_url, reconnect=FAST) as client:
            todos = client.subscribe_group("todo", "inbox", **VIEWS[view])
            await todos.wait_for(lambda items: len(items) == 3, timeout=5)
            queue: asyncio.Queue[ItemChange[Any]] = asyncio.Queue()
            todos.on_item_change(queue.put_nowait)
            assert len(await next_changes(queue, 3)) == 3  # the items held, as "added"
            stub.stall("todo", "inbox")  # what follows is not delivered
            await stub.store.set("todo", "inbox", "1", todo("1", "renamed"))
            await stub.store.delete("todo", "inbox", "2")
            await stub.store.set("todo", "inbox", "4", todo("4", "new"))
            await stub.store.set("todo", "inbox", "5", todo("5", "gone again"))
            await stub.store.delete("todo", "inbox", "5")
            stub.unstall("todo", "inbox")
            await stub.drop_connections()
            changes = await next_changes(queue, 3)
            assert sorted(changes) == [
                ("added", "4", True),
                ("modified", "1", True),
                ("removed", "2", True),
            ]
            await asyncio.sleep(0.1)
            assert queue.empty()
