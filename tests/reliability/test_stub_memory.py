"""Anonymous clients cannot grow a real ``motia-stub`` process's memory (issue 20, item 9).

Two attacks on a stub process, its RSS read from ``/proc``:

- 100,000 join/leave pairs on distinct todo groups. Each join used to leave an
  ``inbox/watching/<group>`` presence item behind (RSS 43 -> 140 MB and a 27.7 MB
  sync); now the last watcher out deletes it, and memory stays flat.
- A subscriber that stops reading while 1 MB custom events keep coming. Its send
  queue used to be bounded by frame count only (1,024 frames of 1 MB: a gigabyte);
  now it is bounded in bytes, and the slow consumer is closed (1013), not the server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.reliability.stub_process import StubProcess

PAIRS = 30_000  # the report used 100,000; 30,000 shows the same growth in a third of the time
BATCH = 500
MIB = 1024 * 1024


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def _join(stream: str, group: str, sub: str) -> dict[str, Any]:
    data = {"streamName": stream, "groupId": group, "subscriptionId": sub}
    return {"type": "join", "data": data}


async def _pairs(ws: ClientConnection, first: int, count: int) -> None:
    """``count`` join/leave pairs on groups ``g-<n>``, pipelined in batches; each sync read."""
    for start in range(first, first + count, BATCH):
        stop = min(start + BATCH, first + count)
        for n in range(start, stop):
            join = _join("todo", f"g-{n}", f"s-{n}")
            await ws.send(json.dumps(join))
            await ws.send(json.dumps({"type": "leave", "data": join["data"]}))
        for _ in range(start, stop):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert frame["event"]["type"] == "sync"


async def _presence(ws: ClientConnection) -> list[Any]:
    await ws.send(json.dumps(_join("inbox", "watching", str(uuid.uuid4()))))
    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame["event"]["type"] == "sync"
    items: list[Any] = frame["event"]["data"]
    return items


async def test_join_leave_pairs_leave_no_presence_and_no_memory_behind() -> None:
    async with StubProcess() as stub, connect(stub.ws_url, proxy=None, max_size=None) as ws:
        await _pairs(ws, 0, 1_000)
        baseline = _rss_bytes(stub.pid)
        await _pairs(ws, 1_000, PAIRS - 1_000)
        grown = _rss_bytes(stub.pid)
        print(f"RSS {baseline / MIB:.1f} -> {grown / MIB:.1f} MiB")
        assert await _presence(ws) == []
        assert grown - baseline < 8 * MIB, f"RSS {baseline / MIB:.1f} -> {grown / MIB:.1f} MiB"


async def _drain(ws: ClientConnection) -> None:
    """Read until the connection closes (bounded in messages and in time per message)."""
    for _ in range(1_000):
        await asyncio.wait_for(ws.recv(), 5)


def _small_buffer_socket(port: int) -> socket.socket:
    """A connected socket with a 64 KiB receive buffer, so the kernel does not absorb MBs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_a_subscriber_that_stops_reading_is_closed_and_memory_stays_bounded() -> None:
    async with StubProcess() as stub:
        await _slow_subscriber_run(stub)


async def _slow_subscriber_run(stub: StubProcess) -> None:
    async with (
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=30) as http,
        # No permessage-deflate: 1 MB of "x" would travel as 1 KB and fit in any buffer.
        connect(
            stub.ws_url,
            sock=_small_buffer_socket(stub.port),
            proxy=None,
            max_size=None,
            max_queue=1,
            compression=None,
        ) as slow,
    ):
        await slow.send(json.dumps(_join("todo", "inbox", str(uuid.uuid4()))))
        assert json.loads(await slow.recv())["event"]["type"] == "sync"
        baseline = _rss_bytes(stub.pid)
        body = json.dumps({"blob": "x" * (MIB - 100)})
        peak = baseline
        for _ in range(200):  # 200 MB of events; nobody reads them
            response = await http.post(
                "/todo/ping", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 200
            peak = max(peak, _rss_bytes(stub.pid))
            if "closing it with 1013" in stub.log:
                break
        assert "closing it with 1013" in stub.log, "the slow consumer was never dropped"
        assert peak - baseline < 96 * MIB, f"RSS grew by {(peak - baseline) / MIB:.0f} MiB"
        # Reading again, the client gets what was already on its way, then the close frame.
        with pytest.raises(ConnectionClosed) as closed:
            await _drain(slow)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013
        assert "not reading fast enough" in closed.value.rcvd.reason
        assert (await http.get("/")).status_code == 200  # the server is fine
