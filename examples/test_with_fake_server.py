"""Testing your own code against motia_client.testing.FakeMotiaServer, with pytest-asyncio.

    pip install motia-client pytest pytest-asyncio
    pytest examples/test_with_fake_server.py

No Motia server and no socket: the fake server is the client's transport. The code
under test is ``open_todos`` (in your project it lives in your package); the tests
script what the server does (new todos, a refused group, a dropped connection) and
check what the code makes of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from motia_client import AsyncStreamClient, ReconnectPolicy, StreamClient, SubscriptionRefused
from motia_client.testing import FakeMotiaServer

# -- the code under test ------------------------------------------------------------------


async def open_todos(client: AsyncStreamClient, group: str, at_least: int) -> list[str]:
    """The descriptions of the group's open todos, once it has at least ``at_least``."""

    def is_open(todo: dict[str, Any]) -> bool:
        return not todo.get("completedAt")

    async with client.subscribe_group("todo", group, sort_key="createdAt") as todos:
        items = await todos.wait_for(
            lambda items: sum(1 for t in items if is_open(t)) >= at_least, timeout=5
        )
        return [t["description"] for t in items if is_open(t)]


# -- the tests ------------------------------------------------------------------------------


def todo(todo_id: str, description: str, **fields: Any) -> dict[str, Any]:
    return {"id": todo_id, "description": description, "createdAt": todo_id, **fields}


@pytest.fixture
def server() -> FakeMotiaServer:
    """A Motia 0.x server holding one open todo."""
    server = FakeMotiaServer()
    server.seed("todo", "inbox", todo("t1", "water the plants"))
    return server


@pytest_asyncio.fixture
async def client(server: FakeMotiaServer) -> AsyncIterator[AsyncStreamClient]:
    """A client on the fake server; it reconnects fast after a scripted drop."""
    fast = ReconnectPolicy(initial=0.01, cap=0.05)
    async with AsyncStreamClient(server.url, transport=server.transport, reconnect=fast) as c:
        yield c


@pytest.mark.asyncio
async def test_it_waits_for_todos_created_later(
    server: FakeMotiaServer, client: AsyncStreamClient
) -> None:
    waiting = asyncio.ensure_future(open_todos(client, "inbox", at_least=2))
    await server.wait_for_joins(1)  # subscribed: now the todo arrives
    await server.set("todo", "inbox", todo("t2", "buy oat milk"))
    assert await waiting == ["water the plants", "buy oat milk"]
    assert len(server.leaves) == 1  # and it unsubscribed when done


@pytest.mark.asyncio
async def test_completed_todos_do_not_count(
    server: FakeMotiaServer, client: AsyncStreamClient
) -> None:
    server.seed("todo", "inbox", todo("t0", "done already", completedAt="2026-01-05"))
    assert await open_todos(client, "inbox", at_least=1) == ["water the plants"]


@pytest.mark.asyncio
async def test_a_refused_group_raises(server: FakeMotiaServer, client: AsyncStreamClient) -> None:
    server.refuse("todo", "private")
    with pytest.raises(SubscriptionRefused):
        await open_todos(client, "private", at_least=1)


@pytest.mark.asyncio
async def test_it_carries_on_across_a_dropped_connection(
    server: FakeMotiaServer, client: AsyncStreamClient
) -> None:
    waiting = asyncio.ensure_future(open_todos(client, "inbox", at_least=2))
    await server.wait_for_joins(1)
    server.seed("todo", "inbox", todo("t2", "made while the client was away"))
    await server.drop()  # the client reconnects, rejoins, and the resync brings t2
    assert await waiting == ["water the plants", "made while the client was away"]
    assert len(server.connections) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_both_server_dialects(dialect: str) -> None:
    server = FakeMotiaServer(dialect)  # type: ignore[arg-type]
    server.seed("todo", "inbox", todo("t1", "water the plants"))
    async with AsyncStreamClient(server.url, transport=server.transport) as client:
        assert await open_todos(client, "inbox", at_least=1) == ["water the plants"]


def test_the_blocking_client_too(server: FakeMotiaServer) -> None:
    # StreamClient runs its loop in a thread of its own: reach the server with call().
    with StreamClient(server.url, transport=server.transport) as client:
        todos = client.subscribe_group("todo", "inbox")
        todos.wait_for(lambda items: len(items) == 1, timeout=5)
        server.call(server.set, "todo", "inbox", todo("t2", "buy oat milk"))
        items = todos.wait_for(lambda items: len(items) == 2, timeout=5)
        assert [t["id"] for t in items] == ["t1", "t2"]
