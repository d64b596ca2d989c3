"""Reconnect: rejoin and converge, server restarts, keepalive, token refresh, 401, refusals.

The scripted faults of ``FakeMotiaServer`` (drop, fail_next, a token that changes,
refusals) need no socket; a restart on the same port, keepalive against a frozen
link and the cleanup of the websockets transport run on real sockets.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from motia_client import (
    AsyncStreamClient,
    AuthenticationError,
    ConnectionState,
    MotiaConnectionError,
    MotiaError,
    ReconnectPolicy,
    SubscriptionRefused,
)
from motia_client.testing import FakeMotiaServer
from tests.client.conftest import WAIT, StateLog, assert_nothing_left
from tests.client.wsserver import FreezableProxy, WsServer

pytestmark = pytest.mark.timeout(30)

S = ConnectionState
MakeClient = Callable[..., AsyncStreamClient]


def todo(todo_id: str, created: str, **extra: Any) -> dict[str, Any]:
    return {"id": todo_id, "createdAt": created, **extra}


class Seen:
    """Every state a change listener received."""

    def __init__(self) -> None:
        self.states: list[Any] = []

    def __call__(self, state: Any) -> None:
        self.states.append(state)


async def test_a_dropped_connection_rejoins_with_fresh_ids_and_converges_once(
    fake: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server = fake
    server.seed("todo", "inbox", todo("a", "1"), todo("b", "2"), todo("c", "3"))
    client = fake_client(server)
    log = StateLog(client)
    async with client:
        group = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        group2 = client.subscribe_group("todo", "inbox")
        item = client.subscribe_item("todo", "inbox", "a")
        still = client.subscribe_item("todo", "inbox", "c")
        for sub in (group, group2, item, still):
            await sub.wait_for(lambda state: bool(state), timeout=WAIT)
        seen = {name: Seen() for name in ("group", "group2", "item", "still")}
        for name, sub in zip(seen, (group, group2, item, still), strict=True):
            sub.add_change_listener(seen[name])
            assert len(seen[name].states) == 1  # at once: the subscription is synced
            seen[name].states.clear()
        first_ids = {j["subscriptionId"] for j in server.connections[0].joins}
        # the store changes while the client is away: no frame tells it
        server.seed(
            "todo", "inbox", todo("a", "1", done=True), todo("c", "3"), todo("d", "0"), replace=True
        )
        await server.drop()
        conn = await server.wait_for_connections(2)
        await server.wait_until(lambda: len(conn.joins) == 3)
        items = await group.wait_for(lambda items: len(items) == 3, timeout=WAIT)
        await item.wait_for(lambda it: it.get("done") is True, timeout=WAIT)
        await group2.wait_for(lambda items: len(items) == 3, timeout=WAIT)
        assert [t["id"] for t in items] == ["d", "a", "c"]
        second_ids = {j["subscriptionId"] for j in conn.joins}
        assert len(second_ids) == 3
        assert not first_ids & second_ids  # always fresh uuids
        # one change per subscription, never a flash of empty; unchanged item: none
        assert [len(seen[n].states) for n in seen] == [1, 1, 1, 0]
        assert all(len(state) == 3 for state in seen["group"].states + seen["group2"].states)
    retry = next(c for c in log.changes if c.state is S.RECONNECTING)
    assert (retry.previous, retry.attempt) == (S.OPEN, 1)
    assert retry.retry_in is not None
    assert 0 <= retry.retry_in <= 0.02
    assert isinstance(retry.error, MotiaConnectionError)
    assert retry.reason
    assert log.states == [S.CONNECTING, S.OPEN, S.RECONNECTING, S.OPEN, S.CLOSED]


async def test_a_server_that_closes_normally_is_reconnected_to(
    fake: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server = fake
    server.seed("todo", "inbox", todo("a", "1"))
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.connections[0].disconnect(1001)  # going away
        await server.wait_for_connections(2)
        await server.set("todo", "inbox", todo("b", "2"))
        await server.wait_until(lambda: len(server.connections[1].joins) == 1)
        await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)


async def test_the_server_stopped_and_restarted_on_the_same_port(
    server: WsServer, make_client: MakeClient
) -> None:
    server.store[("todo", "inbox")] = {"a": todo("a", "1")}
    client = make_client(server.url)
    log = StateLog(client)
    async with client:
        group = client.subscribe_group("todo", "inbox")
        item = client.subscribe_item("todo", "inbox", "a")
        await group.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        port = server.port
        await server.stop()
        await log.wait(S.RECONNECTING, count=3)  # it keeps trying while nothing listens
        attempts = [c.attempt for c in log.changes if c.state is S.RECONNECTING]
        assert attempts[:3] == [1, 2, 3]
        server.store[("todo", "inbox")] = {"a": todo("a", "1", v=2), "b": todo("b", "2")}
        await server.start(port)
        assert server.port == port
        items = await group.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert items[0]["v"] == 2
        assert (await item.wait_for(lambda it: it.get("v") == 2, timeout=WAIT))["v"] == 2
        assert client.state is S.OPEN
        assert log.changes[-1].attempt == 0


async def test_keepalive_detects_a_half_open_socket_in_time(
    server: WsServer, make_client: MakeClient
) -> None:
    ping_interval, ping_timeout = 0.2, 0.2
    server.store[("todo", "inbox")] = {"a": todo("a", "1")}
    async with FreezableProxy(server.port) as proxy:
        client = make_client(proxy.url, ping_interval=ping_interval, ping_timeout=ping_timeout)
        log = StateLog(client)
        async with client:
            sub = client.subscribe_group("todo", "inbox")
            await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
            proxy.freeze()  # the socket stays open, silent both ways
            frozen_at = time.monotonic()
            await server.set("todo", "inbox", todo("b", "2"))  # lost in the frozen link
            await log.wait(S.RECONNECTING, timeout=WAIT)
            detected = time.monotonic() - frozen_at
            # within ping_interval + ping_timeout (plus scheduling slack on a busy machine)
            assert detected < ping_interval + ping_timeout + 0.5, detected
            reason = log.changes[-1].reason or ""
            assert "127.0.0.1" in reason
            items = await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
            assert [t["id"] for t in items] == ["a", "b"]


async def test_reconnect_false_fails_on_the_first_loss(
    fake: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server = fake
    client = fake_client(server, reconnect=False)
    log = StateLog(client)
    errors: list[MotiaError] = []
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        sub.on_error(errors.append)
        await sub.wait_for(lambda items: True, timeout=WAIT)
        await server.drop()
        await log.wait(S.FAILED)
        assert isinstance(client.error, MotiaConnectionError)
        assert [type(e) for e in errors] == [MotiaConnectionError]
        with pytest.raises(MotiaConnectionError):
            await sub.wait_for(lambda items: False, timeout=WAIT)
    assert len(server.attempts) == 1
    assert log.states == [S.CONNECTING, S.OPEN, S.FAILED, S.CLOSED]


async def test_the_policy_gives_up_after_max_attempts(
    fake: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server = fake
    policy = ReconnectPolicy(initial=0.01, cap=0.01, max_attempts=2)
    client = fake_client(server, reconnect=policy)
    log = StateLog(client)
    async with client:
        server.fail_next(10**6)  # the server is gone for good
        await server.drop()
        await log.wait(S.FAILED)
        assert [c.attempt for c in log.changes if c.state is S.RECONNECTING] == [1, 2]
        assert "gave up after 2" in str(client.error)


def test_reconnect_policy_backoff_is_capped_exponential_with_full_jitter() -> None:
    policy = ReconnectPolicy()
    assert (policy.initial, policy.factor, policy.cap, policy.max_attempts) == (
        0.5,
        2.0,
        30.0,
        None,
    )
    exact = ReconnectPolicy(jitter=False)
    assert [exact.delay(n) for n in (1, 2, 3, 7, 8, 100)] == [0.5, 1.0, 2.0, 30.0, 30.0, 30.0]
    rng = random.Random(4)
    samples = [policy.delay(3, rng) for _ in range(200)]
    assert all(0.0 <= d <= 2.0 for d in samples)
    assert max(samples) - min(samples) > 1.0  # spread over the whole range
    assert ReconnectPolicy(max_attempts=2).delay(3) is None
    with pytest.raises(ValueError, match="factor"):
        ReconnectPolicy(factor=0.5)
    with pytest.raises(ValueError, match="max_attempts"):
        ReconnectPolicy(max_attempts=-1)


# -- tokens across reconnects --------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_token_callable_is_called_again_on_reconnect(
    fake_client: MakeClient, kind: str
) -> None:
    server = FakeMotiaServer(token="t1")
    server.seed("todo", "inbox", todo("a", "1"))
    current = {"token": "t1"}
    calls: list[str] = []

    def sync_token() -> str:
        calls.append(current["token"])
        return current["token"]

    async def async_token() -> str:
        await asyncio.sleep(0)
        return sync_token()

    client = fake_client(server, token=sync_token if kind == "sync" else async_token)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        server.token = current["token"] = "t2"  # the old token expires
        server.seed("todo", "inbox", todo("b", "2"))
        await server.drop()
        await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
    assert [h.token for h in server.attempts] == ["t1", "t2"]
    assert calls == ["t1", "t2"]


async def test_a_401_after_a_reconnect_stops_retrying(fake_client: MakeClient) -> None:
    server = FakeMotiaServer(token="t1")
    client = fake_client(server, token="t1")
    log = StateLog(client)
    errors: list[MotiaError] = []
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        sub.on_error(errors.append)
        await sub.wait_for(lambda items: True, timeout=WAIT)
        server.token = "t2"
        await server.drop()
        await log.wait(S.FAILED)
        assert client.state is S.FAILED
        error = client.error
        assert isinstance(error, AuthenticationError)
        assert error.status == 401
        assert "t1" not in str(error)
        assert [type(e) for e in errors] == [AuthenticationError]
        assert client._task is not None
        assert client._task.done()  # nothing will try again
    assert [h.status for h in server.attempts] == [101, 401]


async def test_a_401_is_retried_when_the_callable_returns_a_new_token(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer(token="t1")
    server.seed("todo", "inbox", todo("a", "1"))
    handed = itertools.chain(["t1", "t1"], itertools.repeat("t2"))  # a cache that lags once
    client = fake_client(server, token=lambda: next(handed))
    log = StateLog(client)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        server.token = "t2"
        server.seed("todo", "inbox", todo("b", "2"))
        await server.drop()
        await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert client.state is S.OPEN
    assert [(h.token, h.status) for h in server.attempts] == [
        ("t1", 101),
        ("t1", 401),
        ("t2", 101),
    ]
    assert S.FAILED not in log.states


async def test_a_token_that_changes_on_every_call_is_retried_at_the_backoff_pace(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer(token="never-matches")
    counter = itertools.count()
    policy = ReconnectPolicy(initial=0.01, cap=0.01, max_attempts=3)
    client = fake_client(server, token=lambda: f"minted-{next(counter)}", reconnect=policy)
    log = StateLog(client)
    await client.connect(wait=False)
    await log.wait(S.FAILED)  # the policy bounds it: no hot loop against a 401
    assert len(server.attempts) == 4
    assert isinstance(client.error, MotiaError)
    retries = [c for c in log.changes if c.state is S.RECONNECTING]
    assert [c.attempt for c in retries] == [1, 2, 3]
    assert all(isinstance(c.error, AuthenticationError) for c in retries)


# -- refused joins across reconnects ----------------------------------------------------


async def test_every_join_refused_after_a_reconnect_refreshes_the_token_once(
    fake_client: MakeClient,
) -> None:
    # iii upgrades a stale token anyway; its only symptom is that joins come back refused
    server = FakeMotiaServer("iii", token="t1")
    server.seed("todo", "inbox", todo("a", "1"))
    handed = itertools.chain(["t1", "t1"], itertools.repeat("t2"))
    client = fake_client(server, token=lambda: next(handed))
    errors: list[MotiaError] = []
    async with client:
        group = client.subscribe_group("todo", "inbox")
        item = client.subscribe_item("todo", "inbox", "a")
        group.on_error(errors.append)
        item.on_error(errors.append)
        await group.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        server.token = "t2"
        server.seed("todo", "inbox", todo("b", "2"))
        await server.drop()
        await group.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        await server.wait_until(lambda: len(server.attempts) == 3)
        assert [h.token for h in server.attempts] == ["t1", "t1", "t2"]
        assert item.state == todo("a", "1")
        assert errors == []  # refreshed before reporting anything
        assert (group.error, item.error) == (None, None)


async def test_every_join_refused_with_no_new_token_is_reported_once(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer("iii", token="t1")
    client = fake_client(server, token=lambda: "t1")
    errors: list[MotiaError] = []
    async with client:
        group = client.subscribe_group("todo", "inbox")
        item = client.subscribe_item("todo", "inbox", "a")
        group.on_error(errors.append)
        item.on_error(errors.append)
        await group.wait_for(lambda items: True, timeout=WAIT)
        server.token = "t2"
        await server.drop()
        with pytest.raises(SubscriptionRefused):
            await group.wait_for(lambda items: False, timeout=WAIT)
        with pytest.raises(SubscriptionRefused):
            await item.wait_for(lambda items: False, timeout=WAIT)
        assert sorted(type(e).__name__ for e in errors) == ["SubscriptionRefused"] * 2
        assert len(server.attempts) == 2
        assert client.state is S.OPEN


async def test_a_partial_refusal_after_a_reconnect_is_reported_without_any_state(
    fake: FakeMotiaServer, fake_client: MakeClient
) -> None:
    # Motia 0.x sends nothing for a missing item, so no state frame ever ends the
    # probation: the refusal must still be reported once its deadline passes.
    server = fake
    client = fake_client(server, token=lambda: "t1")
    async with client:
        secret = client.subscribe_group("todo", "secret")
        missing = client.subscribe_item("todo", "inbox", "nobody")
        errors: list[MotiaError] = []
        secret.on_error(errors.append)
        await secret.wait_for(lambda items: True, timeout=WAIT)
        server.refuse("todo", "secret")
        await server.drop()
        conn = await server.wait_for_connections(2)
        await server.wait_until(lambda: len(conn.joins) == 2)
        started = time.monotonic()
        with pytest.raises(SubscriptionRefused):
            await secret.wait_for(lambda items: False, timeout=WAIT)
        assert time.monotonic() - started < WAIT
        assert [type(e) for e in errors] == [SubscriptionRefused]
        assert missing.error is None  # unanswered, not refused: settled as a missing item
        assert missing.state is None
        assert len(server.attempts) == 2  # one refused room out of two: no token refresh


async def test_a_refused_room_is_not_rejoined_unless_the_token_changed(
    fake: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server = fake
    allow = server.refuse("todo", "secret")
    server.seed("todo", "inbox", todo("a", "1"))
    tokens = iter(["t1", "t1", "t2"])
    client = fake_client(server, token=lambda: next(tokens))
    async with client:
        secret = client.subscribe_group("todo", "secret")
        inbox = client.subscribe_group("todo", "inbox")
        errors: list[MotiaError] = []
        secret.on_error(errors.append)
        with pytest.raises(SubscriptionRefused):
            await secret.wait_for(lambda items: True, timeout=WAIT)
        await inbox.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.drop()  # same token: only the inbox is joined again
        conn = await server.wait_for_connections(2)
        await inbox.wait_for(lambda items: True, timeout=WAIT)
        await server.wait_until(lambda: len(conn.joins) == 1)
        assert conn.joins[0]["groupId"] == "inbox"
        allow()
        server.seed("todo", "secret", todo("s", "1"))
        seen: list[tuple[int, MotiaError | None]] = []  # what a listener sees
        secret.add_change_listener(lambda items: seen.append((len(items), secret.error)))
        await server.drop()  # a new token: the refused room is tried again, and accepted
        conn = await server.wait_for_connections(3)
        await server.wait_until(lambda: len(conn.joins) == 2)
        for _ in range(int(WAIT / 0.01)):  # bounded wait for the listener
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen[:1] == [(1, None)]  # the refusal is cleared once state flows again
        assert len(await secret.wait_for(lambda items: len(items) == 1, timeout=WAIT)) == 1
        assert secret.error is None
        assert [type(e) for e in errors] == [SubscriptionRefused]


async def test_close_while_reconnecting_leaves_nothing(
    server: WsServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    log = StateLog(client)
    await client.connect()
    client.subscribe_group("todo", "inbox")
    await server.stop()
    await log.wait(S.RECONNECTING)
    await client.close()
    assert_nothing_left(client)


async def test_the_supervisor_survives_bad_frames_and_raising_listeners(
    fake: FakeMotiaServer, fake_client: MakeClient
) -> None:
    # The official Python client's reconnect path cancels its own task, so after a
    # bad frame or a raising listener its state silently freezes. Ours keeps going.
    server = fake
    server.seed("todo", "inbox", todo("a", "1"))
    client = fake_client(server)
    async with client:
        sub = client.subscribe_group("todo", "inbox")

        def boom(items: Any) -> None:
            raise RuntimeError("listener bug")

        sub.add_change_listener(boom)
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.send_raw("{broken")
        await server.set("todo", "inbox", todo("b", "2"))
        await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        server.seed("todo", "inbox", todo("c", "3"))
        await server.drop()
        await sub.wait_for(lambda items: len(items) == 3, timeout=WAIT)
        server.seed("todo", "inbox", todo("d", "4"))
        await server.drop()  # and again
        await sub.wait_for(lambda items: len(items) == 4, timeout=WAIT)
        assert client.state is S.OPEN
        assert len(server.connections) == 3


async def test_subscribing_while_reconnecting_joins_once_the_socket_is_back(
    fake: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server = fake
    server.seed("todo", "inbox", todo("a", "1"))
    client = fake_client(server)
    log = StateLog(client)
    async with client:
        first = client.subscribe_group("todo", "inbox")
        await first.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        server.fail_next(10**6)  # down
        await server.drop()
        await log.wait(S.RECONNECTING)
        late = client.subscribe_item("todo", "inbox", "a")  # no socket right now
        assert not late.synced
        server.fail_next(0)  # back up
        assert await late.wait_for(lambda it: it is not None, timeout=WAIT) == todo("a", "1")
        conn = await server.wait_for_connections(2)
        await server.wait_until(lambda: len(conn.joins) == 2)  # one per room, no duplicate
