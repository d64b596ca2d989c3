"""``echo_state_events``: Motia 0.17's Redis-adapter echo of every set/delete as a custom event."""

from __future__ import annotations

import httpx
import pytest

from motia_client import AsyncStreamClient
from server_stub import StubServer

from .conftest import join, open_client


@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_every_set_and_delete_is_followed_by_its_echo(dialect: str) -> None:
    async with (
        StubServer(port=0, dialect=dialect, echo_state_events=True) as stub,  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5) as http,
    ):
        group = await open_client(stub.ws_url)
        item_watcher = await open_client(stub.ws_url)
        await group.join_and_sync(join("todo", "inbox"))  # syncs are not echoed
        todo = (await http.post("/todo", json={"description": "echo me"})).json()
        await item_watcher.join_and_sync(join("todo", "inbox", todo["id"]))
        done = (await http.post(f"/todo/{todo['id']}/complete")).json()["todo"]
        await http.delete(f"/todo/{todo['id']}")
        expected = [
            ("create", todo),
            ("update", done),
            ("delete", done),
        ]
        for kind, data in expected:
            real = await group.recv()
            echo = await group.recv()
            assert real["event"] == {"type": kind, "data": data}
            assert echo["event"] == {"type": "event", "event": {"type": kind, "data": data}}
            assert echo["timestamp"] == real["timestamp"]  # the same millisecond
            assert echo["id"] == real["id"] == todo["id"]
            if kind == "update":  # the completion's own custom event is not echoed
                note = await group.recv()
                assert note["event"]["event"]["type"] == "notification"
        assert await group.silent()
        kinds = [(await item_watcher.recv())["event"] for _ in range(5)]
        assert [k["type"] if k["type"] != "event" else k["event"]["type"] for k in kinds] == [
            "update",
            "update",
            "notification",
            "delete",
            "delete",
        ]
        await group.ws.close()
        await item_watcher.ws.close()


async def test_off_by_default() -> None:
    async with StubServer(port=0) as stub:
        assert not stub.echo_state_events
        client = await open_client(stub.ws_url)
        await client.join_and_sync(join("todo", "inbox"))
        await stub.store.set("todo", "inbox", "t1", {"description": "x", "createdAt": "y"})
        assert (await client.recv_event())["type"] == "create"
        assert await client.silent()
        await client.ws.close()


async def test_the_client_keeps_the_true_state_and_sees_the_echoes_as_events() -> None:
    async with (
        StubServer(port=0, echo_state_events=True) as stub,
        AsyncStreamClient(stub.ws_url) as client,
    ):
        sub = client.subscribe_group("todo", "inbox")
        echoes: list[object] = []
        for kind in ("create", "update", "delete"):
            sub.on_event(kind, echoes.append)
        await sub.wait_for(lambda items: True, timeout=5)
        todo = {"description": "x", "createdAt": "y"}
        for n in range(5):  # many writes within one millisecond, as with token streams
            await stub.store.set("todo", "inbox", "t1", {**todo, "n": n})
        await stub.store.set("todo", "inbox", "t2", todo)
        await stub.store.delete("todo", "inbox", "t2")
        truth = await stub.store.list_group("todo", "inbox")
        items = await sub.wait_for(lambda items: len(echoes) == 7 and items == truth, timeout=5)
        assert items == truth
        assert items[0]["n"] == 4  # no echo made a real frame look stale
