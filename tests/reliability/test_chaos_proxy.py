"""The fault-injecting proxy itself: bytes intact, faults really injected, nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator

import pytest

from tests.reliability.chaos import ChaosProxy, Faults


class EchoServer:
    """Echoes every read back and records the size of each read."""

    def __init__(self) -> None:
        self.reads: list[int] = []
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                self.reads.append(len(data))
                writer.write(data)
                await writer.drain()
        writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    server = EchoServer()
    server.server = await asyncio.start_server(server._handle, "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.server.close()
        await server.server.wait_closed()


async def _read_all(reader: asyncio.StreamReader, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        data += chunk
    return data


async def _ended(reader: asyncio.StreamReader) -> bool:
    """Whether the connection ends (EOF or reset) within 2 s."""
    try:
        while await asyncio.wait_for(reader.read(65536), 2):
            pass
    except ConnectionError:
        return True
    except asyncio.TimeoutError:
        return False
    return True


async def test_bytes_arrive_intact_and_in_order_through_splits_and_delays(
    echo: EchoServer,
) -> None:
    faults = Faults(split_probability=1.0, delay_probability=0.5, max_delay=0.003)
    payload = random.Random(1).randbytes(150_000)
    async with ChaosProxy(echo.port, seed=3, faults=faults) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writes = 0
        for start in range(0, len(payload), 30_000):
            writer.write(payload[start : start + 30_000])
            writes += 1
            await writer.drain()
        assert await _read_all(reader, len(payload)) == payload
        writer.close()
        assert proxy.stats.splits > 0
        assert proxy.stats.delays > 0
        assert proxy.stats.bytes_up == proxy.stats.bytes_down == len(payload)
    assert len(echo.reads) > writes  # the echo server really got the bytes in more pieces


async def test_cut_resets_every_open_link_and_new_links_still_work(echo: EchoServer) -> None:
    async with ChaosProxy(echo.port, seed=1) as proxy:
        clients = [await asyncio.open_connection("127.0.0.1", proxy.port) for _ in range(3)]
        for reader, writer in clients:  # every link is established end to end
            writer.write(b"x")
            assert await _read_all(reader, 1) == b"x"
        assert proxy.cut() == 3
        assert [await _ended(reader) for reader, _ in clients] == [True, True, True]
        assert proxy.stats.links_cut == 3
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"again")
        assert await _read_all(reader, 5) == b"again"
        for _, old in [*clients, (reader, writer)]:
            old.close()


async def test_a_split_chunk_can_be_cut_after_its_first_piece(echo: EchoServer) -> None:
    faults = Faults(split_probability=1.0, cut_mid_frame_probability=1.0)
    async with ChaosProxy(echo.port, seed=2, faults=faults) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"y" * 10_000)
        await writer.drain()
        assert await _ended(reader)
        assert proxy.stats.mid_frame_cuts == 1
        assert 0 < proxy.stats.bytes_up < 10_000
        writer.close()


async def test_random_cuts_follow_a_seeded_schedule(echo: EchoServer) -> None:
    def plan(seed: int) -> list[float]:
        proxy = ChaosProxy(1, seed=seed, faults=Faults(cut_every=(0.2, 2.0)))
        return [proxy.next_interval() for _ in range(20)]

    assert plan(5) == plan(5)
    assert plan(5) != plan(6)
    assert all(0.2 <= interval <= 2.0 for interval in plan(5))
    async with ChaosProxy(echo.port, seed=4, faults=Faults(cut_every=(0.02, 0.05))) as proxy:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while proxy.stats.links_cut < 3 and loop.time() < deadline:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            assert await _ended(reader)  # the schedule, not the test, ends each link
            writer.close()
        assert proxy.stats.links_cut >= 3
        await proxy.stop_cutting()
        cuts = proxy.stats.cuts
        await asyncio.sleep(0.1)
        assert proxy.stats.cuts == cuts


async def test_a_target_that_is_down_closes_the_client_connection() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    async with ChaosProxy(dead_port, seed=0) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await _ended(reader)
        writer.close()
        assert proxy.stats.links == 0


async def test_stop_leaves_no_task_and_no_listener(echo: EchoServer) -> None:
    before = asyncio.all_tasks()
    proxy = ChaosProxy(echo.port, seed=0, faults=Faults(cut_every=(5, 6), split_probability=0.5))
    await proxy.start()
    port = proxy.port
    links = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    for reader, writer in links:
        writer.write(b"z")
        assert await _read_all(reader, 1) == b"z"
    await proxy.stop()
    assert asyncio.all_tasks() == before
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    for _, writer in links:
        writer.close()
