"""Presence (``inbox/watching/<group>``) costs nothing once nobody watches a todo group."""

from __future__ import annotations

from server_stub import StubServer

from .conftest import join, leave, open_client, wait_until


async def test_the_last_watcher_out_deletes_the_presence_item(stub: StubServer) -> None:
    observer = await open_client(stub.ws_url)
    await observer.join_and_sync(join("inbox", "watching"))
    first = await open_client(stub.ws_url)
    frame = join("todo", "work")
    await first.join_and_sync(frame)
    created = await observer.recv_event()
    assert created == {"type": "create", "data": {"watching": 1, "id": "work"}}
    second = await open_client(stub.ws_url)
    await second.join_and_sync(join("todo", "work"))
    assert (await observer.recv_event())["data"]["watching"] == 2
    await first.send(leave(frame))
    assert (await observer.recv_event())["data"]["watching"] == 1
    await second.ws.close()  # a disconnect counts as leaving
    assert (await observer.recv_event())["data"]["watching"] == 0
    assert await observer.recv_event() == {"type": "delete", "data": {"watching": 0, "id": "work"}}
    assert await stub.store.list_group("inbox", "watching") == []
    await first.ws.close()
    await observer.ws.close()


async def test_many_join_leave_pairs_leave_nothing(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    for n in range(2_000):
        frame = join("todo", f"g-{n}")
        await client.send(frame)
        await client.send(leave(frame))
    for _ in range(2_000):
        assert (await client.recv_event())["type"] == "sync"
    await client.join_and_sync(join("openai", "probe"))  # frames run in order: all leaves ran
    assert await stub.store.list_groups("inbox") == []
    await client.ws.close()


async def test_a_join_is_not_refused_when_presence_cannot_be_stored() -> None:
    async with StubServer(port=0, max_group_items=1) as stub:
        client = await open_client(stub.ws_url)
        await client.join_and_sync(join("todo", "a"))  # presence for "a": the one slot
        await client.join_and_sync(join("todo", "b"))  # no slot left: joined anyway
        assert [item["id"] for item in await stub.store.list_group("inbox", "watching")] == ["a"]
        await client.ws.close()
        await wait_until(lambda: stub.connection_count == 0)
        assert await stub.store.list_group("inbox", "watching") == []
