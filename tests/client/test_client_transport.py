"""Wire-level behaviour both transports share: fragments, binary frames, close codes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from motia_client import AsyncStreamClient, ConnectionState
from tests.client.conftest import WAIT, StateLog
from tests.client.wsserver import WsServer, envelope

pytestmark = pytest.mark.timeout(30)

MakeClient = Callable[..., AsyncStreamClient]


def update(item: dict[str, Any], timestamp: int) -> str:
    event = {"type": "update", "data": item}
    return json.dumps(envelope("todo", "inbox", item["id"], event, timestamp))


async def test_fragmented_and_binary_messages_arrive_whole(
    server: WsServer, make_client: MakeClient
) -> None:
    server.store[("todo", "inbox")] = {}
    async with make_client(server.url) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: True, timeout=WAIT)
        conn = await server.wait_conn(1)
        now = int(time.time() * 1000) + 1000  # after the sync's wall-clock stamp
        text = update({"id": "a", "description": "x" * 3000}, now)
        parts = [text[:7], text[7:1500], text[1500:]]
        await conn.ws.send(parts)  # one message in three WebSocket frames
        await conn.ws.send(update({"id": "b", "description": "binary"}, now + 1).encode())
        items = await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert [t["id"] for t in items] == ["a", "b"]
        assert items[0]["description"] == "x" * 3000
        assert items[1]["description"] == "binary"


async def test_a_server_close_code_is_reported_and_the_client_reconnects(
    server: WsServer, make_client: MakeClient
) -> None:
    server.store[("todo", "inbox")] = {"a": {"id": "a"}}
    client = make_client(server.url)
    log = StateLog(client)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        conn = await server.wait_conn(1)
        await conn.ws.close(code=4001, reason="going away for a test")
        await log.wait(ConnectionState.RECONNECTING)
        reconnecting = next(c for c in log.changes if c.state is ConnectionState.RECONNECTING)
        assert reconnecting.reason is not None
        assert "4001" in reconnecting.reason
        await server.wait_conn(2)
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        assert client.state is ConnectionState.OPEN
