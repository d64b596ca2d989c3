"""End to end: AsyncStreamClient and StreamClient against the reference server_stub.

Both dialects, both transports: live state, custom events, auth the three ways,
dropped connections and a restart on the same port.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from motia_client import (
    AsyncStreamClient,
    AuthenticationError,
    ConnectionState,
    StreamClient,
)
from server_stub import StubServer
from tests.client.conftest import FAST, WAIT, StateLog

pytestmark = pytest.mark.timeout(60)

S = ConnectionState
MakeClient = Callable[..., AsyncStreamClient]


@pytest.fixture(params=["motia", "iii"])
async def stub(request: pytest.FixtureRequest) -> AsyncIterator[StubServer]:
    """A reference server on 127.0.0.1 and a free port, in each dialect."""
    async with StubServer(host="127.0.0.1", port=0, dialect=request.param) as server:
        yield server


async def test_group_item_and_events_end_to_end(stub: StubServer, make_client: MakeClient) -> None:
    store = stub.store
    await store.set("todo", "inbox", "t1", {"description": "milk", "createdAt": "2"})
    async with make_client(stub.ws_url) as client:
        todos = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        item = client.subscribe_item("todo", "inbox", "t1")
        pings: list[Any] = []
        item_pings: list[Any] = []
        todos.on_event("ping", pings.append)
        item.on_event("ping", item_pings.append)
        await todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await item.wait_for(lambda it: it is not None, timeout=WAIT)
        await store.set("todo", "inbox", "t0", {"description": "eggs", "createdAt": "1"})
        items = await todos.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert [t["id"] for t in items] == ["t0", "t1"]
        await store.update("todo", "inbox", "t1", [{"type": "set", "path": "done", "value": True}])
        done = await item.wait_for(lambda it: it.get("done") is True, timeout=WAIT)
        assert done["description"] == "milk"
        await store.send_event("todo", "inbox", "ping", {"n": 1}, item_id="t1")
        await store.send_event("todo", "inbox", "ping", {"n": 2})
        await store.delete("todo", "inbox", "t1")
        assert await item.wait_for(lambda it: it is None, timeout=WAIT) is None
        items = await todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        assert pings == [{"n": 1}, {"n": 2}]  # each exactly once, despite two copies
        assert item_pings == [{"n": 1}]
        assert client.state is S.OPEN


async def test_dropped_connections_rejoin_and_converge(
    stub: StubServer, make_client: MakeClient
) -> None:
    await stub.store.set("todo", "inbox", "t1", {"description": "d1", "createdAt": "1"})
    client = make_client(stub.ws_url)
    log = StateLog(client)
    async with client:
        todos = client.subscribe_group("todo", "inbox")
        await todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        seen: list[int] = []
        todos.add_change_listener(lambda items: seen.append(len(items)))
        await stub.drop_connections()
        await stub.store.set(
            "todo", "inbox", "t2", {"description": "d2", "createdAt": "2"}
        )  # while away
        await todos.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert seen == [1, 2]  # at once (synced already), then one change: no empty flash
        assert stub.connection_count == 1
        assert log.states.count(S.RECONNECTING) >= 1


async def test_a_restart_on_the_same_port(make_client: MakeClient) -> None:
    first = StubServer(host="127.0.0.1", port=0)
    await first.start()
    port = first.port
    await first.store.set("todo", "inbox", "t1", {"description": "d1", "createdAt": "1"})
    client = make_client(first.ws_url)
    log = StateLog(client)
    try:
        await client.connect()
        todos = client.subscribe_group("todo", "inbox")
        await todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await first.stop()
        await log.wait(S.RECONNECTING, count=2)
        async with StubServer(host="127.0.0.1", port=port) as second:
            await second.store.set("todo", "inbox", "t9", {"description": "d9", "createdAt": "9"})
            items = await todos.wait_for(
                lambda items: [t["id"] for t in items] == ["t9"], timeout=WAIT
            )
            assert len(items) == 1  # the new server's state replaced the old one
            await client.close()
    finally:
        await client.close()
        await first.stop()


@pytest.mark.parametrize("auth", ["subprotocol", "header", "query"])
async def test_each_auth_way_against_the_stub(make_client: MakeClient, auth: str) -> None:
    async with StubServer(host="127.0.0.1", port=0, token="stub-token-1") as stub:
        await stub.store.set("todo", "inbox", "t1", {"description": "d1", "createdAt": "1"})
        async with make_client(stub.ws_url, token="stub-token-1", auth=auth) as client:
            todos = client.subscribe_group("todo", "inbox")
            assert len(await todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)) == 1
        with pytest.raises(AuthenticationError) as info:
            await make_client(stub.ws_url, token="wrong", auth=auth).connect()
        assert info.value.status == 401
        assert "wrong" not in str(info.value)


async def test_a_refreshed_token_after_the_stub_restarts_with_a_new_one(
    make_client: MakeClient,
) -> None:
    first = StubServer(host="127.0.0.1", port=0, token="old")
    await first.start()
    port = first.port
    tokens = itertools.chain(["old"], itertools.repeat("new"))
    client = make_client(first.ws_url, token=lambda: next(tokens))
    try:
        await client.connect()
        todos = client.subscribe_group("todo", "inbox")
        await todos.wait_for(lambda items: True, timeout=WAIT)
        await first.stop()
        async with StubServer(host="127.0.0.1", port=port, token="new") as second:
            await second.store.set("todo", "inbox", "t1", {"description": "d1", "createdAt": "1"})
            await todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)
            await client.close()
    finally:
        await client.close()
        await first.stop()


def test_the_blocking_client_against_the_stub_in_a_thread(transport: str) -> None:
    with StubServer(host="127.0.0.1", port=0).in_thread() as stub:
        stub.run(stub.store.set("todo", "inbox", "t1", {"description": "d1", "createdAt": "1"}))
        with StreamClient(stub.ws_url, transport=transport, reconnect=FAST) as client:
            todos = client.subscribe_group("todo", "inbox", sort_key="createdAt")
            todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)
            stub.run(stub.store.set("todo", "inbox", "t0", {"description": "d0", "createdAt": "0"}))
            items = todos.wait_for(lambda items: len(items) == 2, timeout=WAIT)
            assert [t["id"] for t in items] == ["t0", "t1"]
            stub.run(stub.drop_connections())
            stub.run(stub.store.delete("todo", "inbox", "t1"))
            assert len(todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)) == 1


async def test_many_subscribers_share_one_server_subscription(
    stub: StubServer, make_client: MakeClient
) -> None:
    async with make_client(stub.ws_url) as client:
        subs = [client.subscribe_group("todo", "inbox") for _ in range(20)]
        await asyncio.gather(*(s.wait_for(lambda items: True, timeout=WAIT) for s in subs))
        await stub.store.set("todo", "inbox", "t1", {"description": "d1", "createdAt": "1"})
        await asyncio.gather(
            *(s.wait_for(lambda items: len(items) == 1, timeout=WAIT) for s in subs)
        )
        for sub in subs:
            await sub.close()
        assert client._session.rooms == {}
