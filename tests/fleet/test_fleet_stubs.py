"""Two stub servers on one Redis behave as one server: HTTP steps on A, sockets on B.

A write through A's HTTP steps reaches B's subscribers in order, exactly once;
presence and the seeds' counters stay exact across instances; a lost fan-out
link makes B's clients resync; a Redis outage is a 503 or a 1013, never a hang.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.exceptions import ConnectionClosed

from motia_client import AsyncStreamClient, ConnectionState, ReconnectPolicy, StateChange
from server_stub import StubServer
from server_stub.errors import StoreUnavailable
from server_stub.redis_store import RedisStore
from server_stub.seeds import seed_streams
from server_stub.state import StateStore
from server_stub.streams import HookContext, Subscription
from tests.fleet.redis_process import RedisProcess, free_port
from tests.server.conftest import join, leave, open_client

Pair = tuple[StubServer, StubServer]


def http_client(stub: StubServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=10)


@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_http_writes_on_a_reach_a_socket_on_b_in_order_exactly_once(
    redis_url: str, prefix: str, dialect: str
) -> None:
    async with (
        StubServer(port=0, store=redis_url, redis_prefix=prefix, dialect=dialect) as a,  # type: ignore[arg-type]
        StubServer(port=0, store=redis_url, redis_prefix=prefix, dialect=dialect) as b,  # type: ignore[arg-type]
        http_client(a) as http,
    ):
        client = await open_client(b.ws_url)
        await client.join_and_sync(join("todo", "work"))
        ids = []
        for n in range(30):
            answer = await http.post(
                "/todo", params={"groupId": "work"}, json={"description": f"t{n}"}
            )
            assert answer.status_code == 200
            ids.append(answer.json()["id"])
        done = await http.post(f"/todo/{ids[0]}/complete", params={"groupId": "work"})
        assert done.status_code == 200
        gone = await http.delete(f"/todo/{ids[1]}", params={"groupId": "work"})
        assert gone.status_code == 200
        frames = [await client.recv() for _ in range(33)]
        assert await client.silent(0.3)  # nothing twice
        kinds = [frame["event"]["type"] for frame in frames]
        assert kinds == ["create"] * 30 + ["update", "event", "delete"]
        assert [frame["id"] for frame in frames[:30]] == ids
        assert frames[31]["event"]["event"]["type"] == "notification"
        stamps = [frame["timestamp"] for frame in frames]
        assert stamps == sorted(stamps)
        async with http_client(b) as http_b:
            listed = (await http_b.get("/todo", params={"groupId": "work"})).json()
        assert [todo["id"] for todo in listed] == [ids[0], *ids[2:]]
        await client.ws.close()


async def test_the_seeds_counters_stay_exact_across_instances(pair: Pair) -> None:
    a, b = pair
    async with http_client(a) as http_a, http_client(b) as http_b:
        answers = await asyncio.gather(
            *(http.post("/todo", json={"description": "x"}) for http in (http_a, http_b) * 15)
        )
        assert {answer.status_code for answer in answers} == {200}
    stats = await b.store.get("stats", "todo", "counters")
    assert stats is not None
    assert stats["created"] == 30


async def test_presence_is_counted_across_instances_and_the_last_one_out_deletes_it(
    pair: Pair,
) -> None:
    a, b = pair
    observer = await open_client(a.ws_url)
    await observer.join_and_sync(join("inbox", "watching"))
    on_a, on_b = await open_client(a.ws_url), await open_client(b.ws_url)
    frame_a, frame_b = join("todo", "work"), join("todo", "work")
    await on_a.join_and_sync(frame_a)
    assert (await observer.recv_event())["data"]["watching"] == 1
    await on_b.join_and_sync(frame_b)
    assert (await observer.recv_event())["data"]["watching"] == 2
    await on_a.send(leave(frame_a))
    assert (await observer.recv_event())["data"]["watching"] == 1
    await on_b.ws.close()
    assert (await observer.recv_event())["data"]["watching"] == 0
    assert (await observer.recv_event())["type"] == "delete"
    assert await b.store.get("inbox", "watching", "work") is None
    for client in (observer, on_a):
        await client.ws.close()


async def test_presence_stays_exact_under_joins_and_leaves_racing_on_both(pair: Pair) -> None:
    a, b = pair
    churners = [await open_client(stub.ws_url) for stub in (a, b) * 5]
    keepers = [await open_client(stub.ws_url) for stub in (a, b) * 3]

    async def churn(client: Any, rounds: int) -> None:
        for _ in range(rounds):
            frame = join("todo", "busy")
            await client.join_and_sync(frame)
            await client.send(leave(frame))

    async def keep(client: Any, delay: float) -> None:
        await asyncio.sleep(delay)
        await client.join_and_sync(join("todo", "busy"))

    await asyncio.gather(
        *(churn(client, 20) for client in churners),
        *(keep(client, 0.02 * n) for n, client in enumerate(keepers)),
    )
    for client in churners:  # frames of one socket run in order: its leaves have run
        await client.join_and_sync(join("openai", "probe"))
    assert await a.store.get("inbox", "watching", "busy") == {"watching": 6, "id": "busy"}
    for client in [*churners, *keepers]:
        await client.ws.close()


async def test_the_last_watcher_out_keeps_a_watcher_counted_meanwhile(
    redis_url: str, prefix: str
) -> None:
    """Forces the interleaving: between the last watcher's decrement (to 0) on one
    instance and its delete, another instance counts a new watcher."""
    other = RedisStore(redis_url, prefix=prefix)

    class JoinSlipsIn(RedisStore):
        async def update(self, *args: Any, **kwargs: Any) -> Any:
            result = await super().update(*args, **kwargs)
            if result.get("watching") == 0:
                increment = [{"type": "increment", "path": "watching", "by": 1}]
                await other.update("inbox", "watching", "work", increment)
            return result

    store = JoinSlipsIn(redis_url, prefix=prefix)
    await store.open()
    await other.open()
    try:
        hooks = HookContext(store, StateStore())
        subscription = Subscription("todo", "work", None, "sub-1")
        todo = seed_streams()[0]
        assert todo.on_join is not None
        assert todo.on_leave is not None
        await todo.on_join(subscription, hooks, None)
        await todo.on_leave(subscription, hooks, None)
        assert await other.get("inbox", "watching", "work") == {"watching": 1, "id": "work"}
    finally:
        await store.close()
        await other.close()


async def test_the_client_on_b_follows_writes_on_a_and_resyncs_after_lost_frames(
    pair: Pair, redis_url: str
) -> None:
    a, b = pair
    changes: list[StateChange] = []
    client = AsyncStreamClient(
        [b.ws_url, a.ws_url], reconnect=ReconnectPolicy(initial=0.05, cap=0.2)
    )
    client.on_state_change(changes.append)
    admin = aioredis.Redis.from_url(redis_url)
    async with client, http_client(a) as http:
        todos = client.subscribe_group("todo", "inbox")
        await todos.wait_for(lambda items: len(items) == 0, timeout=5)
        first = (await http.post("/todo", json={"description": "first"})).json()
        await todos.wait_for(lambda items: [t["id"] for t in items] == [first["id"]], timeout=5)
        # Both instances lose their fan-out link to Redis; a write slips through meanwhile.
        await admin.client_kill_filter(_type="pubsub")
        second = (await http.post("/todo", json={"description": "second"})).json()
        await todos.wait_for(
            lambda items: [t["id"] for t in items] == [first["id"], second["id"]], timeout=10
        )
        reconnects = [c for c in changes if c.state is ConnectionState.RECONNECTING]
        assert reconnects
        assert "1012" in str(reconnects[0].reason)
    await admin.aclose()


async def test_a_redis_outage_is_a_503_and_a_1013_never_a_hang(prefix: str) -> None:
    redis_server = RedisProcess()
    await redis_server.start()
    try:
        async with StubServer(port=0, store=redis_server.url, redis_prefix=prefix) as stub:
            client = await open_client(stub.ws_url)
            await client.join_and_sync(join("todo", "inbox"))
            await redis_server.stop()
            async with http_client(stub) as http:
                created = await http.post("/todo", json={"description": "lost?"})
                assert created.status_code == 503
                assert "the Redis store at redis://127.0.0.1" in created.json()["error"]
                listed = await http.get("/todo")
                assert listed.status_code == 503
            with pytest.raises(ConnectionClosed) as closed:  # lost frames: resync
                await client.recv(timeout=5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code in (1012, 1013)
            late = await open_client(stub.ws_url)
            await late.send(join("todo", "inbox"))
            with pytest.raises(ConnectionClosed) as refused:
                await late.recv(timeout=10)
            assert refused.value.rcvd is not None
            assert refused.value.rcvd.code == 1013
    finally:
        await redis_server.stop()


async def test_a_server_whose_redis_is_unreachable_does_not_start() -> None:
    stub = StubServer(port=0, store=f"redis://:pw-secret@127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable, match="cannot reach Redis at redis://:\\*\\*\\*@") as info:
        await stub.start()
    assert "pw-secret" not in str(info.value)


async def _motia_stub(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server_stub",
        "--port",
        "0",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_the_command_line_says_what_is_wrong_with_a_store(tmp_path: Path) -> None:
    code, err = await _motia_stub("--store", "mysql://x")
    assert code == 2
    assert "unknown store 'mysql://x': use 'memory' or a Redis URL" in err
    port = free_port()
    code, err = await _motia_stub("--store", f"redis://:pw-secret@127.0.0.1:{port}/0")
    assert code == 1
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0" in err
    assert "pw-secret" not in err
    shadow = tmp_path / "redis"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'redis'\", name='redis')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code, err = await _motia_stub("--store", "redis://127.0.0.1:1/0", env=env)
    assert code == 2
    assert err.strip() == (
        "motia-stub: the Redis store needs the redis extra (the redis package is not "
        "installed): pip install 'motia-client[redis]'"
    )
