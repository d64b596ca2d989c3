"""Connection limits below the app: head and body timeouts, the connection cap, quiet logs."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import time

import httpx
import pytest

from server_stub import StubServer

from .conftest import join, open_client

SHORT = 0.3


async def _raw(stub: StubServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", stub.port)


async def _until_closed(reader: asyncio.StreamReader, timeout: float = 3.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout)


def _status_and_body(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


async def test_a_partial_request_head_gets_408_and_is_closed() -> None:
    async with StubServer(port=0, head_timeout=SHORT) as stub:
        reader, writer = await _raw(stub)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        status, body = _status_and_body(await _until_closed(reader))
        assert status == 408
        assert "head" in str(body["error"])
        assert SHORT * 0.8 < time.monotonic() - started < SHORT + 1.5
        writer.close()


async def test_trickling_bytes_does_not_extend_the_head_deadline() -> None:
    async with StubServer(port=0, head_timeout=SHORT) as stub:
        reader, writer = await _raw(stub)
        started = time.monotonic()
        closed = asyncio.ensure_future(_until_closed(reader))
        for byte in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":
            if closed.done():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.02)
        status, _ = _status_and_body(await closed)
        assert status == 408
        assert time.monotonic() - started < SHORT + 1.0
        writer.close()


async def test_a_slow_body_is_cut_off_and_writes_nothing() -> None:
    async with StubServer(port=0, body_timeout=SHORT) as stub:
        reader, writer = await _raw(stub)
        writer.write(
            b"POST /todo HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 100\r\n\r\n{"description": '
        )
        started = time.monotonic()
        await _until_closed(reader)
        assert time.monotonic() - started < SHORT + 1.5
        assert await stub.store.list_group("todo", "inbox") == []
        writer.close()


async def test_a_keep_alive_connection_must_send_its_next_head_in_time() -> None:
    async with StubServer(port=0, head_timeout=SHORT) as stub:
        reader, writer = await _raw(stub)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"}"), 3)
        assert first.startswith(b"HTTP/1.1 200")
        writer.write(b"GET / HTTP/1.1\r\nHo")
        status, _ = _status_and_body(await _until_closed(reader))
        assert status == 408
        writer.close()


async def test_over_the_cap_stream_sockets_are_kept_and_the_newcomer_gets_503() -> None:
    async with StubServer(port=0, max_connections=3) as stub:
        clients = [await open_client(stub.ws_url) for _ in range(3)]
        for client in clients:
            await client.join_and_sync(join("todo", "inbox"))
        async with httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=3) as http:
            busy = await http.get("/")
            assert busy.status_code == 503
            assert "too many connections" in busy.json()["error"]
            await clients[0].ws.close()
            await asyncio.sleep(0.05)
            assert (await http.get("/")).status_code == 200
        for client in clients[1:]:  # the stream sockets were never disturbed
            await stub.store.set("todo", "inbox", "t1", {"description": "x", "createdAt": "y"})
            assert (await client.recv_event())["type"] in ("create", "update")
            await client.ws.close()


async def test_over_the_cap_the_oldest_head_waiting_socket_makes_room() -> None:
    async with StubServer(port=0, max_connections=3) as stub:
        slow = []
        for _ in range(3):
            reader, writer = await _raw(stub)
            writer.write(b"GET / HTTP/1.1\r\n")
            slow.append((reader, writer))
            await asyncio.sleep(0.02)  # so that "oldest" is well defined
        client = await open_client(stub.ws_url)  # over the cap: evicts slow[0]
        await client.join_and_sync(join("todo", "inbox"))
        status, _ = _status_and_body(await _until_closed(slow[0][0]))
        assert status == 503
        for reader, _ in slow[1:]:
            assert not reader.at_eof()
        await client.ws.close()
        for _, writer in slow:
            writer.close()


async def test_refusals_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    async with StubServer(port=0, max_connections=1) as stub:
        keeper = await open_client(stub.ws_url)
        with caplog.at_level(logging.INFO, logger="server_stub"):
            for _ in range(30):
                reader, writer = await _raw(stub)
                await _until_closed(reader)
                writer.close()
        lines = [r for r in caplog.records if "refused a connection" in r.getMessage()]
        assert len(lines) == 1
        await keeper.ws.close()


async def test_accept_failures_are_folded_into_one_line(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    async with StubServer(port=0):
        with caplog.at_level(logging.INFO):
            for _ in range(500):  # what asyncio does per wake-up when descriptors run out
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(errno.EMFILE, "Too many open files"),
                    }
                )
            loop.call_exception_handler({"message": "something else"})
    accept_lines = [r for r in caplog.records if "cannot accept" in r.getMessage()]
    assert len(accept_lines) == 1
    assert accept_lines[0].exc_info is None
    assert "Too many open files" in accept_lines[0].getMessage()
    assert any(r.getMessage() == "something else" for r in caplog.records)  # not swallowed
    assert loop.get_exception_handler() is None  # restored on stop


def test_the_cap_stays_below_the_open_file_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert StubServer(port=0).max_connections < soft
    assert StubServer(port=0, max_connections=10**9).max_connections < soft
    assert StubServer(port=0, max_connections=5).max_connections == 5
    with pytest.raises(ValueError, match="max_connections"):
        StubServer(port=0, max_connections=0)
