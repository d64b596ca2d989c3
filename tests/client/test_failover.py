"""Failover (issue 19): a list of URLs; a lost connection moves to the next instance."""

from __future__ import annotations

from typing import Any

import pytest

from motia_client import AsyncStreamClient, ConnectionState, ReconnectPolicy, StateChange
from server_stub import StubServer
from tests.reliability.harness import wait_until

pytestmark = pytest.mark.timeout(60)


def todo(description: str) -> dict[str, Any]:
    return {"description": description, "createdAt": "2026-01-01T00:00:00Z"}


async def test_a_lost_instance_fails_over_to_the_next_and_the_state_follows_it() -> None:
    async with StubServer(port=0) as a, StubServer(port=0) as b:
        await a.store.set("todo", "inbox", "t1", todo("on a"))
        await b.store.set("todo", "inbox", "t1", todo("on b"))
        await b.store.set("todo", "inbox", "t2", todo("only on b"))
        policy = ReconnectPolicy(initial=0.02, cap=0.1)
        client = AsyncStreamClient([a.ws_url, b.ws_url], reconnect=policy)
        changes: list[StateChange] = []
        client.on_state_change(changes.append)
        async with client:
            assert client.url == a.ws_url
            sub = client.subscribe_group("todo", "inbox")
            await sub.wait_for(lambda items: [i["description"] for i in items] == ["on a"], 5)
            await a.stop()  # instance A goes away for good
            items = await sub.wait_for(lambda items: len(items) == 2, timeout=10)
            assert [i["description"] for i in items] == ["on b", "only on b"]
            assert client.url == b.ws_url
            opened = [c for c in changes if c.state is ConnectionState.OPEN]
            assert [c.url for c in opened] == [a.ws_url, b.ws_url]  # which instance, each time
            await b.store.set("todo", "inbox", "t3", todo("live on b"))
            await sub.wait_for(lambda items: len(items) == 3, timeout=5)


async def test_each_attempt_goes_to_the_next_url_round_robin() -> None:
    async with StubServer(port=0) as b:
        dead = "ws://127.0.0.1:1/"  # nothing listens on port 1
        policy = ReconnectPolicy(initial=0.01, cap=0.02)
        client = AsyncStreamClient([dead, b.ws_url], reconnect=policy)
        changes: list[StateChange] = []
        client.on_state_change(changes.append)
        try:
            await client.connect(wait=False)
            await wait_until(lambda: client.is_connected, timeout=5, what="on b")
            retry = next(c for c in changes if c.state is ConnectionState.RECONNECTING)
            assert retry.url == b.ws_url  # the attempt it waits for goes to the next URL
            assert client.url == b.ws_url
        finally:
            await client.close()
