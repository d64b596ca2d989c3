"""The store's documented limits: items and bytes per group, bytes in all; 507 when full."""

from __future__ import annotations

import httpx
import pytest

from server_stub import MemoryStore, StoreFull, StoreLimits, StubServer
from server_stub.limits import MAX_BODY_BYTES

from .conftest import join, open_client


async def test_a_full_group_answers_507_and_sends_nothing() -> None:
    async with (
        StubServer(port=0, max_group_items=3) as stub,
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5) as http,
    ):
        todos = [(await http.post("/todo", json={"description": f"t{n}"})).json() for n in range(3)]
        client = await open_client(stub.ws_url)
        await client.join_and_sync(join("todo", "inbox"))
        full = await http.post("/todo", json={"description": "one too many"})
        assert full.status_code == 507
        assert full.json()["error"] == "group todo/inbox is full: 3 items at most"
        assert len(await stub.store.list_group("todo", "inbox")) == 3
        assert await client.silent()
        # Other groups have their own room; completing an existing todo is fine.
        work = await http.post("/todo", params={"groupId": "work"}, json={"description": "w"})
        assert work.status_code == 200
        assert (await http.post(f"/todo/{todos[0]['id']}/complete")).status_code == 200
        assert (await client.recv_event())["type"] == "update"
        assert (await client.recv_event())["event"]["type"] == "notification"
        # A delete makes room again.
        assert (await http.delete(f"/todo/{todos[1]['id']}")).status_code == 200
        assert (await client.recv_event())["type"] == "delete"
        assert (await http.post("/todo", json={"description": "fits"})).status_code == 200
        await client.ws.close()


async def test_group_bytes_bound_growth_but_never_a_shrink() -> None:
    store = MemoryStore(limits=StoreLimits(max_group_bytes=1_000))
    await store.open()
    await store.set("s", "g", "a", {"blob": "x" * 500})
    with pytest.raises(StoreFull, match="group s/g is full: 1000 bytes"):
        await store.set("s", "g", "b", {"blob": "x" * 500})
    with pytest.raises(StoreFull):
        await store.update("s", "g", "a", [{"type": "set", "path": "more", "value": "y" * 600}])
    assert await store.get("s", "g", "b") is None
    assert (await store.get("s", "g", "a")) == {"blob": "x" * 500, "id": "a"}
    await store.set("s", "g", "a", {"blob": "x" * 10})  # smaller: always accepted
    await store.set("s", "g", "b", {"blob": "x" * 500})  # and now it fits
    await store.close()


async def test_the_whole_store_is_bounded_and_deletes_free_it() -> None:
    store = MemoryStore(limits=StoreLimits(max_store_bytes=2_000))
    await store.open()
    for group in ("g1", "g2", "g3"):
        await store.set("s", group, "a", {"blob": "x" * 500})
    with pytest.raises(StoreFull, match="the store is full: 2000 bytes"):
        await store.set("s", "g4", "a", {"blob": "x" * 500})
    assert store.total_bytes > 1_500
    for group in ("g1", "g2", "g3"):
        await store.delete("s", group, "a")
    assert store.total_bytes == 0  # the accounting returns to nothing
    await store.set("s", "g4", "a", {"blob": "x" * 500})
    await store.close()


async def test_open_ai_answers_507_when_the_store_is_full() -> None:
    async with (
        StubServer(port=0, max_store_bytes=300) as stub,
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5) as http,
    ):
        statuses = [
            (await http.post("/open-ai?delay_ms=10000", json={"message": "hi"})).status_code
            for _ in range(20)
        ]
        assert 200 in statuses
        assert statuses[-1] == 507
        assert set(statuses) == {200, 507}


async def test_an_oversized_body_is_still_413() -> None:
    async with (
        StubServer(port=0) as stub,
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5) as http,
    ):
        big = {"description": "x" * MAX_BODY_BYTES}
        assert (await http.post("/todo", json=big)).status_code == 413


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_group_items"):
        StubServer(port=0, max_group_items=0)
    with pytest.raises(ValueError, match="max_store_bytes"):
        StoreLimits(max_store_bytes=0)
