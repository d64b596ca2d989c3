"""A subscriber that stops reading is dropped with 1013 once its queue passes its byte bound."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server_stub import StubServer
from server_stub._uvicorn import CLOSE_GRACE_SECONDS

from .conftest import join, open_client

MIB = 1024 * 1024


def _small_buffer_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _paused_subscriber(stub: StubServer) -> ClientConnection:
    """A subscriber of todo/inbox that reads nothing until asked (no compression)."""
    ws = await connect(
        stub.ws_url,
        sock=_small_buffer_socket(stub.port),
        proxy=None,
        max_size=None,
        max_queue=1,
        compression=None,
    )
    frame = {
        "type": "join",
        "data": {"streamName": "todo", "groupId": "inbox", "subscriptionId": str(uuid.uuid4())},
    }
    await ws.send(json.dumps(frame))
    assert json.loads(await ws.recv())["event"]["type"] == "sync"
    return ws


async def _drain(ws: ClientConnection) -> int:
    count = 0
    for _ in range(1_000):
        await asyncio.wait_for(ws.recv(), 5)
        count += 1
    return count


async def test_the_slow_consumer_gets_1013_and_the_others_keep_up() -> None:
    async with StubServer(port=0, max_queue_bytes=2 * MIB) as stub:
        slow = await _paused_subscriber(stub)
        fast = await open_client(stub.ws_url, max_size=None)
        await fast.join_and_sync(join("todo", "inbox"))
        blob = "x" * MIB
        for n in range(64):  # bounded: far beyond 2 MiB plus any socket buffer
            await stub.store.send_event("todo", "inbox", "big", {"n": n, "blob": blob})
            assert (await fast.recv())["event"]["event"]["data"]["n"] == n
            if stub.connection_count == 1:
                break
        assert stub.connection_count == 1, "the slow consumer was never dropped"
        with pytest.raises(ConnectionClosed) as closed:
            await _drain(slow)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013
        assert "not reading fast enough" in closed.value.rcvd.reason
        await stub.store.send_event("todo", "inbox", "after", {})
        assert (await fast.recv_event())["event"]["type"] == "after"
        await fast.ws.close()


async def test_a_slow_consumer_that_never_answers_is_cut_off_after_the_grace() -> None:
    async with StubServer(port=0, max_queue_bytes=MIB) as stub:
        slow = await _paused_subscriber(stub)
        sock = slow.transport.get_extra_info("socket")
        for n in range(64):
            await stub.store.send_event("todo", "inbox", "big", {"n": n, "blob": "x" * MIB})
            await asyncio.sleep(0)
            if stub.connection_count == 0:
                break
        assert stub.connection_count == 0, "the slow consumer was never dropped"
        assert _tcp_state(sock) == TCP_ESTABLISHED  # the close frame waits behind the data
        # It neither reads nor answers the close: the server drops the TCP connection.
        await asyncio.sleep(CLOSE_GRACE_SECONDS + 0.5)
        assert _tcp_state(sock) != TCP_ESTABLISHED
        slow.transport.abort()


TCP_ESTABLISHED = 1


def _tcp_state(sock: object) -> int:
    """The kernel's TCP state of a socket (Linux ``TCP_INFO``: its first byte)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)  # type: ignore[attr-defined]
    return int(info[0])
