"""Wire-level behaviour both transports share: fragments, binary frames, close codes,
pings, refused upgrades, pull then push, and a bounded close."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest

from motia_client import (
    AsyncStreamClient,
    ConnectionState,
    ConnectRequest,
    FrameTooLarge,
    MotiaConnectionError,
)
from motia_client._auth import Credentials
from motia_client._config import pick_transport
from motia_client._transport import CLOSE_TIMEOUT, PushTransport
from tests.client.conftest import WAIT, StateLog
from tests.client.wsserver import FreezableProxy, WsServer, envelope

pytestmark = pytest.mark.timeout(30)

MakeClient = Callable[..., AsyncStreamClient]
MakeServer = Callable[..., Awaitable[WsServer]]


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


async def test_a_fragmented_message_over_max_size_fails_whole(
    server: WsServer, make_client: MakeClient
) -> None:
    """Every fragment fits under max_size; the message they make does not."""
    limit = 4096
    server.store[("todo", "inbox")] = {}
    client = make_client(server.url, max_size=limit)
    log = StateLog(client)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: True, timeout=WAIT)
        conn = await server.wait_conn(1)
        text = update({"id": "a", "description": "x" * (2 * limit)}, server.now())
        await conn.ws.send([text[i : i + 1000] for i in range(0, len(text), 1000)])
        await log.wait(ConnectionState.RECONNECTING)
        error = log.changes[-1].error
        assert isinstance(error, FrameTooLarge)
        assert error.limit == limit
        await server.wait_conn(2)
        await sub.wait_for(lambda items: True, timeout=WAIT)
        assert client.state is ConnectionState.OPEN


async def test_server_pings_are_answered(make_server: MakeServer, make_client: MakeClient) -> None:
    server = await make_server(ping_interval=0.05)
    async with make_client(server.url, ping_interval=None) as client:
        client.subscribe_group("todo", "inbox")
        conn = await server.wait_conn(1)
        # websockets records the round trip when our pong comes back
        await eventually(lambda: conn.ws.latency > 0)
        assert client.state is ConnectionState.OPEN


@pytest.mark.parametrize("status", [301, 303, 307, 308])
async def test_a_3xx_upgrade_answer_is_refused_not_followed(
    make_server: MakeServer, make_client: MakeClient, status: int
) -> None:
    server = await make_server(http_status=status)
    client = make_client(server.url, token="tok-3xx", auth="header")
    with pytest.raises(MotiaConnectionError, match=str(status)) as info:
        await client.connect()
    assert "tok-3xx" not in str(info.value)
    assert len(server.handshakes) == 1


def _request(url: str, **options: Any) -> ConnectRequest:
    return ConnectRequest(Credentials.build(url, None, "subprotocol"), **options)


async def eventually(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, "not true in time"
        await asyncio.sleep(0.01)


async def test_recv_then_push_delivers_every_message_in_order(
    server: WsServer, transport: str
) -> None:
    opened = cast(PushTransport, await pick_transport(transport)(_request(server.url)))  # type: ignore[arg-type]
    assert hasattr(opened, "start_reading")
    try:
        conn = await server.wait_conn(1)
        await conn.ws.send("one")
        assert await opened.recv() in ("one", b"one")
        for word in ("two", "three", "four"):
            await conn.ws.send(word)
        await asyncio.sleep(0.05)  # some arrive before push mode starts
        got: list[bytes] = []
        opened.start_reading(got.append)
        await conn.ws.send(b"five")
        await eventually(lambda: len(got) == 4)
        assert got == [b"two", b"three", b"four", b"five"]
        await conn.ws.close(code=4002)
        with pytest.raises(MotiaConnectionError, match="4002"):
            await asyncio.wait_for(opened.wait_closed(), WAIT)
    finally:
        await opened.close()


async def test_close_is_bounded_when_the_peer_never_answers(
    server: WsServer, transport: str
) -> None:
    async with FreezableProxy(server.port) as proxy:
        opened = await pick_transport(transport)(_request(proxy.url))  # type: ignore[arg-type]
        await server.wait_conn(1)
        proxy.freeze()  # our close frame is never answered, the socket never closes
        started = time.monotonic()
        await asyncio.wait_for(opened.close(), CLOSE_TIMEOUT + WAIT)
        assert time.monotonic() - started < CLOSE_TIMEOUT + 1.0
        await opened.close()  # twice is fine
