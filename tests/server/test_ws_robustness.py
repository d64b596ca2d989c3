"""Nothing a client sends breaks the server: garbage, oversized frames, slow readers, drops."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import pytest
from websockets.exceptions import ConnectionClosed

from server_stub import MemoryStore, Room, StubServer
from server_stub.limits import MAX_CLIENT_FRAME_BYTES

from .conftest import TEST_STREAMS, join, open_client, wait_until

GARBAGE = [
    "not json at all",
    "",
    "[1, 2, 3]",
    "42",
    "null",
    '{"type": "join"}',
    '{"type": "join", "data": "inbox"}',
    '{"type": "join", "data": {"streamName": "todo"}}',
    '{"type": "join", "data": {"streamName": 1, "groupId": 2, "subscriptionId": 3}}',
    '{"type": "join", "data": {"streamName": "", "groupId": "g", "subscriptionId": "s"}}',
    '{"type": "subscribe", "data": {"streamName": "s", "groupId": "g", "subscriptionId": "x"}}',
    '{"type": "leave", "data": {"streamName": "s", "groupId": "g", "subscriptionId": "nope"}}',
    json.dumps(
        {"type": "join", "data": {"streamName": "s" * 300, "groupId": "g", "subscriptionId": "x"}}
    ),
    '{"type": "join", "data": {"streamName": "s", "groupId": "g", "subscriptionId": "x"',
    "\u0000\ud7ff",
]


async def test_garbage_frames_are_ignored_and_the_socket_keeps_working(
    stub: StubServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = await open_client(stub.ws_url)
    for text in GARBAGE:
        await client.ws.send(text)
    await client.ws.send(b"\xff\xfe\xfd")
    await client.ws.send(os.urandom(256))
    assert await client.silent()
    await client.join_and_sync(join("todo", "inbox"))
    assert stub.connection_count == 1
    assert "ignored a frame" in caplog.text
    assert "not json at all" not in caplog.text  # content is never logged
    await client.ws.close()


async def test_an_oversized_frame_closes_with_1009_and_others_carry_on(stub: StubServer) -> None:
    bystander = await open_client(stub.ws_url)
    await bystander.join_and_sync(join("s", "g"))
    client = await open_client(stub.ws_url)
    await client.ws.send("x" * (MAX_CLIENT_FRAME_BYTES + 1))
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(client.ws.recv(), 3)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009
    await stub.store.set("s", "g", "a", {})
    assert (await bystander.recv_event())["type"] == "create"
    await bystander.ws.close()


async def test_a_frame_at_the_limit_is_fine(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    frame = json.dumps(join("s", "g"))
    await client.ws.send(frame + " " * (MAX_CLIENT_FRAME_BYTES - len(frame)))
    assert (await client.recv_event())["type"] == "sync"
    await client.ws.close()


async def _raw_client_that_never_reads(port: int) -> socket.socket:
    """A WebSocket client on a tiny receive buffer that joins ``s/g`` and then stops reading."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = await asyncio.to_thread(sock.recv, 1)
        assert chunk, "server closed during the handshake"
        response += chunk
    assert response.startswith(b"HTTP/1.1 101")
    payload = json.dumps(join("s", "g")).encode()
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


async def test_a_slow_client_is_disconnected_without_slowing_the_others() -> None:
    async with StubServer(port=0, max_queue=8, streams=TEST_STREAMS) as stub:
        fast = await open_client(stub.ws_url, max_size=None)
        await fast.join_and_sync(join("s", "g"))
        slow = await _raw_client_that_never_reads(stub.port)
        try:
            await wait_until(lambda: stub.connection_count == 2)
            store = stub.store
            assert isinstance(store, MemoryStore)
            await wait_until(lambda: store.subscriber_count(Room("s", "g")) == 2)
            received = 0
            blob = "x" * 32_768
            for n in range(1000):  # bounded: ~32 MB at most, far beyond any socket buffer
                await stub.store.set("s", "g", "big", {"n": n, "blob": blob})
                frame = await fast.recv()
                assert frame["event"]["data"]["n"] == n
                received += 1
                if stub.connection_count == 1:
                    break
            assert stub.connection_count == 1, "the slow client was never disconnected"
            assert received < 1000
            await stub.store.set("s", "g", "after", {})
            assert (await fast.recv())["id"] == "after"
        finally:
            slow.close()
        await fast.ws.close()


async def test_drop_connections_is_abrupt_and_a_reconnect_resyncs(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", "inbox"))
    await stub.drop_connections()
    assert stub.connection_count == 0
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(client.ws.recv(), 3)
    assert info.value.rcvd is None  # no close frame: like a network failure
    # on_leave ran for the dropped socket: it was the last watcher, its presence is gone
    assert await stub.store.get("inbox", "watching", "inbox") is None

    todo = await stub.store.set("todo", "inbox", "t1", {"description": "d", "createdAt": "c"})
    again = await open_client(stub.ws_url)
    sync = await again.join_and_sync(join("todo", "inbox"))
    assert sync["event"]["data"] == [todo]
    await again.ws.close()


async def test_drop_connections_with_nobody_connected(stub: StubServer) -> None:
    await stub.drop_connections()
    assert stub.connection_count == 0


async def test_the_server_closes_sockets_with_1001_when_it_stops() -> None:
    async with StubServer(port=0, streams=TEST_STREAMS) as stub:
        client = await open_client(stub.ws_url)
        await client.join_and_sync(join("s", "g"))
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(client.ws.recv(), 3)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1001


async def test_a_client_vanishing_mid_stream_is_cleaned_up(stub: StubServer) -> None:
    clients = [await open_client(stub.ws_url) for _ in range(5)]
    for client in clients:
        await client.join_and_sync(join("todo", "inbox"))
    for client in clients:
        client.ws.transport.abort()
    for n in range(20):
        await stub.store.set("todo", "inbox", f"t{n}", {"description": "d", "createdAt": "c"})
    await wait_until(lambda: stub.connection_count == 0)
    assert await stub.store.get("inbox", "watching", "inbox") is None  # every watcher left


async def test_a_deeply_nested_frame_is_ignored(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    depth = 20_000
    await client.ws.send('{"type": "join", "data": ' + "[" * depth + "]" * depth + "}")
    assert await client.silent()
    await client.join_and_sync(join("s", "g"))
    await client.ws.close()


async def test_a_frame_that_cannot_be_sent_drops_only_that_socket(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = await open_client(stub.ws_url)
    await victim.join_and_sync(join("s", "victim"))
    bystander = await open_client(stub.ws_url)
    await bystander.join_and_sync(join("s", "g"))
    real_encode = stub._ctx.encoder.encode

    def encode(frame):  # type: ignore[no-untyped-def]
        text = real_encode(frame)
        return text if frame.group != "victim" else '"\ud800"'  # not encodable as UTF-8

    monkeypatch.setattr(stub._ctx.encoder, "encode", encode)
    await stub.store.set("s", "victim", "a", {})
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(victim.ws.recv(), 3)
    await stub.store.set("s", "g", "a", {})
    assert (await bystander.recv_event())["type"] == "create"
    await bystander.ws.close()
