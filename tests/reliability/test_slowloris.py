"""Slowloris against a real ``motia-stub`` process at ``ulimit -n 1024`` (issue 20, item 7).

1,100 sockets each send a partial request head (``GET / HTTP/1.1`` and one header) and
then nothing. Before the connection guard, they used up the process's file descriptors:
nobody else could connect, and asyncio's accept loop logged tracebacks at 100 % CPU.
Now the stub caps its connections below the fd limit, evicts the oldest head-waiting
socket for a newcomer, and a normal client still subscribes and receives a change
within 2 s, while the stub stays quiet in CPU and log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import time
import uuid

import httpx
from websockets.asyncio.client import connect

from tests.reliability.stub_process import StubProcess

STUB_NOFILE = 1024  # the stub's own limit, as in the report (ulimit -n 1024)
SLOW_SOCKETS = 1100
HEADROOM = 200  # descriptors this test needs besides the slow sockets
PARTIAL_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n"
BATCH = 100
CLIENT_DEADLINE = 2.0


def _raise_own_fd_limit(needed: int) -> int:
    """Raise this process's soft fd limit to ``needed`` if the hard limit allows; the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


async def _slow_socket(port: int) -> asyncio.StreamWriter | None:
    """One socket that sends a partial request head and then waits (None if refused)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0)
    except (OSError, asyncio.TimeoutError):
        return None
    writer.write(PARTIAL_HEAD)
    return writer


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _subscribe_and_receive(stub: StubProcess) -> float:
    """Connect, join todo/inbox, create a todo over HTTP, receive it; seconds taken."""
    started = time.monotonic()
    async with (
        connect(stub.ws_url, proxy=None, open_timeout=CLIENT_DEADLINE) as ws,
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=2) as http,
    ):
        join = {
            "type": "join",
            "data": {"streamName": "todo", "groupId": "inbox", "subscriptionId": str(uuid.uuid4())},
        }
        await ws.send(json.dumps(join))
        sync = json.loads(await asyncio.wait_for(ws.recv(), CLIENT_DEADLINE))
        assert sync["event"]["type"] == "sync"
        created = await http.post("/todo", json={"description": "still served"})
        assert created.status_code == 200
        frame = json.loads(await asyncio.wait_for(ws.recv(), CLIENT_DEADLINE))
        assert frame["event"] == {"type": "create", "data": created.json()}
    return time.monotonic() - started


async def test_a_normal_client_is_served_while_1100_slow_sockets_hang() -> None:
    limit = _raise_own_fd_limit(SLOW_SOCKETS + HEADROOM)
    count = min(SLOW_SOCKETS, limit - HEADROOM)
    if count < SLOW_SOCKETS:
        print(f"this process may open {limit} files: scaled the attack to {count} sockets")
    assert count > STUB_NOFILE, "the attack must outnumber the stub's descriptors to mean anything"

    stub = StubProcess(nofile=STUB_NOFILE)
    await stub.start()
    writers: list[asyncio.StreamWriter] = []
    try:
        for first in range(0, count, BATCH):
            batch = await asyncio.gather(
                *(_slow_socket(stub.port) for _ in range(first, min(first + BATCH, count)))
            )
            writers.extend(writer for writer in batch if writer is not None)
        await asyncio.sleep(0.3)  # let the stub take every connection it will take

        elapsed = await _subscribe_and_receive(stub)
        assert elapsed < CLIENT_DEADLINE

        cpu_before = _cpu_seconds(stub.pid)
        await asyncio.sleep(2.0)
        assert _cpu_seconds(stub.pid) - cpu_before < 0.5  # idle, not spinning on accept()
        log = stub.log
        assert "Traceback" not in log
        assert len(log) < 64_000, f"{len(log)} bytes of log"
    finally:
        for writer in writers:
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True), 10
            )
        await stub.kill()
