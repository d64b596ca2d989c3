"""StubServer's lifecycle: ports, URLs, clean stops, re-binding, the thread mode and the demo."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import httpx
import pytest

from server_stub import StubServer

from .conftest import join, open_client


async def test_port_zero_picks_a_free_port_and_urls_follow() -> None:
    async with StubServer(port=0) as stub:
        assert stub.port > 0
        assert stub.ws_url == f"ws://127.0.0.1:{stub.port}/"
        assert stub.http_url == f"http://127.0.0.1:{stub.port}"
        assert str(stub.port) in repr(stub)


async def test_the_port_is_unknown_before_start() -> None:
    stub = StubServer(port=0)
    with pytest.raises(RuntimeError, match="not started"):
        _ = stub.port
    assert "not started" in repr(stub)


async def test_stop_leaves_no_tasks_and_the_port_can_be_bound_again() -> None:
    before = asyncio.all_tasks()
    stub = StubServer(port=0, demo=True, demo_tick=0.01)
    await stub.start()
    port = stub.port
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", "inbox"))
    async with httpx.AsyncClient(base_url=stub.http_url, trust_env=False) as http:
        assert (await http.post("/open-ai?delay_ms=1000", json={"message": "x"})).status_code == 200
    await stub.stop()
    await stub.stop()  # idempotent
    await client.ws.close()
    assert asyncio.all_tasks() - before == set()
    async with StubServer(port=port) as again:
        assert again.port == port
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(again.http_url + "/")).status_code == 200


async def test_a_taken_port_is_a_clear_oserror() -> None:
    async with StubServer(port=0) as stub:
        with pytest.raises(OSError, match="in use"):
            await StubServer(port=stub.port).start()


async def test_starting_twice_is_refused() -> None:
    async with StubServer(port=0) as stub:
        with pytest.raises(RuntimeError, match="already running"):
            await stub.start()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="dialect"):
        StubServer(dialect="v2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_queue"):
        StubServer(max_queue=0)
    with pytest.raises(ValueError, match="not both"):
        StubServer(token="t", auth=lambda token: None)


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port``, as the kernel lists them."""
    found: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            with open(table) as lines:
                rows = [line.split() for line in lines][1:]
        except FileNotFoundError:
            continue
        for row in rows:
            address, port_hex = row[1].split(":")
            if row[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)  # 32-bit words in host byte order
            words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
            found.add(socket.inet_ntop(family, b"".join(words)))
    return found


@pytest.mark.skipif(
    not os.path.exists("/proc/net/tcp"), reason="reads the kernel's socket table: Linux only"
)
async def test_the_server_listens_on_the_requested_host_only() -> None:
    async with StubServer(host="127.0.0.1", port=0) as stub:
        with socket.create_connection(("127.0.0.1", stub.port), timeout=2):
            pass
        # bound to that address, not to every interface (0.0.0.0 or ::)
        assert listening_addresses(stub.port) == {"127.0.0.1"}


def test_in_thread_runs_the_server_for_blocking_code() -> None:
    threads_before = threading.active_count()
    with StubServer(port=0).in_thread() as stub:
        item = stub.run(
            stub.store.set("todo", "inbox", "t1", {"description": "d", "createdAt": "c"})
        )
        assert item["id"] == "t1"
        with httpx.Client(base_url=stub.http_url, trust_env=False, timeout=5) as http:
            todo = http.post("/todo", json={"description": "blocking"}).json()
            assert http.post(f"/todo/{todo['id']}/complete").status_code == 200
        items = stub.run(stub.store.list_group("todo", "inbox"))
        assert [i["id"] for i in items] == ["t1", todo["id"]]
        stub.run(stub.drop_connections())
        assert stub.connection_count == 0
        with pytest.raises(RuntimeError, match=r"stub\.run"):
            asyncio.run(stub.store.get("todo", "inbox", "t1"))
    assert threading.active_count() == threads_before
    with pytest.raises(RuntimeError, match="not started"):
        stub.run(asyncio.sleep(0))


async def test_run_refuses_to_deadlock_on_its_own_loop(stub: StubServer) -> None:
    with pytest.raises(RuntimeError, match="deadlock"):
        stub.run(asyncio.sleep(0))


async def test_in_thread_store_errors_propagate_to_the_caller() -> None:
    def body() -> None:
        with StubServer(port=0).in_thread() as stub, pytest.raises(Exception, match="schema"):
            stub.run(stub.store.set("todo", "inbox", "bad", {"description": 1}))

    await asyncio.to_thread(body)


async def test_demo_mode_keeps_the_inbox_and_the_ai_message_moving() -> None:
    async with StubServer(port=0, demo=True, demo_tick=0.02) as stub:
        client = await open_client(stub.ws_url)
        await client.join_and_sync(join("todo", "inbox"))
        kinds: set[str] = set()
        for _ in range(300):  # bounded in count; each recv is bounded in time
            event = await client.recv_event()
            kinds.add(event["type"] if event["type"] != "event" else event["event"]["type"])
            if {"create", "update", "delete", "notification", "ping"} <= kinds:
                break
        assert {"create", "update", "delete", "notification", "ping"} <= kinds
        message = await stub.store.get("openai", "demo", "message")
        assert message is not None
        assert isinstance(message["message"], str)
        stats = await stub.store.get("stats", "todo", "counters")
        assert stats is not None
        assert stats["created"] >= 1
        await client.ws.close()


async def test_stop_ends_streams_in_progress_promptly() -> None:
    stub = StubServer(port=0)
    await stub.start()
    http = httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5)
    chat = http.stream("POST", "/chat?delay_ms=5000", json={"message": "x"})
    async with http, chat as response:
        lines = response.aiter_lines()
        assert (await lines.__anext__()).startswith("data: ")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await stub.stop()
        assert loop.time() - started < 1.5
        rest = [line async for line in lines]
    assert "data: [DONE]" not in rest
