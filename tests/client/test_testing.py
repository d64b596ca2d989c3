"""motia_client.testing: the fake server drives real clients as the real servers would."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from motia_client import (
    AsyncStreamClient,
    AuthenticationError,
    ConnectionState,
    FrameTooLarge,
    MotiaConnectionError,
    MotiaError,
    MotiaTimeout,
    StreamClient,
    SubscriptionRefused,
)
from motia_client.testing import FakeMotiaServer
from tests.client.conftest import WAIT, StateLog

pytestmark = pytest.mark.timeout(30)

S = ConnectionState
DIALECTS = ["motia", "iii"]
MakeClient = Callable[..., AsyncStreamClient]


def todo(todo_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": todo_id, "description": f"do {todo_id}", **extra}


# -- joins, state and copies -------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_joins_get_their_sync_and_every_change_is_applied_on_return(
    dialect: str, fake_client: MakeClient
) -> None:
    server = FakeMotiaServer(dialect)  # type: ignore[arg-type]
    server.seed("todo", "inbox", todo("a"), todo("b"))
    async with fake_client(server) as client:
        group = client.subscribe_group("todo", "inbox")
        item = client.subscribe_item("todo", "inbox", "a")
        await group.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        await item.wait_for(lambda it: it is not None, timeout=WAIT)
        assert item.state == todo("a")
        await server.set("todo", "inbox", todo("c"))
        assert [t["id"] for t in group.state] == ["a", "b", "c"]  # no wait: already applied
        await server.set("todo", "inbox", todo("a", done=True))
        assert item.state == todo("a", done=True)
        await server.delete("todo", "inbox", "a")
        assert item.state is None
        assert [t["id"] for t in group.state] == ["b", "c"]
        assert server.items("todo", "inbox") == [todo("b"), todo("c")]
        assert server.item("todo", "inbox", "b") == todo("b")
        assert server.item("todo", "inbox", "a") is None


async def test_motia_sends_nothing_for_a_missing_item(fake_client: MakeClient) -> None:
    server = FakeMotiaServer("motia")
    async with fake_client(server) as client:
        missing = client.subscribe_item("todo", "inbox", "nobody")
        await server.wait_for_joins(1)
        with pytest.raises(MotiaTimeout):
            await missing.wait_for(lambda it: True, timeout=0.1)
        assert (missing.synced, missing.state) == (False, None)
        assert server.subscriptions == [("todo", "inbox", "nobody")]  # joined all the same
        await server.set("todo", "inbox", todo("nobody"))
        assert missing.state == todo("nobody")


async def test_iii_answers_a_missing_item_with_a_null_sync(fake_client: MakeClient) -> None:
    server = FakeMotiaServer("iii")
    async with fake_client(server) as client:
        missing = client.subscribe_item("todo", "inbox", "nobody")
        assert await missing.wait_for(lambda it: True, timeout=WAIT) is None
        assert missing.synced


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_one_copy_per_matching_server_side_subscription(
    dialect: str, fake_client: MakeClient
) -> None:
    server = FakeMotiaServer(dialect)  # type: ignore[arg-type]
    server.seed("todo", "inbox", todo("a"))
    async with fake_client(server) as first, fake_client(server) as second:
        group = first.subscribe_group("todo", "inbox")
        item = first.subscribe_item("todo", "inbox", "a")
        other = second.subscribe_group("todo", "inbox")
        for sub in (group, item, other):
            await sub.wait_for(lambda state: state is not None, timeout=WAIT)
        heard: dict[str, list[Any]] = {"group": [], "item": [], "other": []}
        group.on_event("ping", heard["group"].append)
        item.on_event("ping", heard["item"].append)
        other.on_event("ping", heard["other"].append)
        # an item-level frame: the first client's group and item rooms, and the second's group
        assert await server.set("todo", "inbox", todo("a", n=1)) == 3
        assert await server.send_event("todo", "inbox", "ping", 1, item_id="a") == 3
        assert await server.send_event("todo", "inbox", "ping", 2) == 2  # group level
        assert await server.set("todo", "elsewhere", todo("x")) == 0
        # the client hears each once, however many copies its socket got
        assert heard == {"group": [1, 2], "item": [1], "other": [1, 2]}
        assert item.state == todo("a", n=1)
        assert len(server.subscriptions) == 3


@pytest.mark.parametrize(("dialect", "copies"), [("motia", 1), ("iii", 0)])
async def test_motia_item_rooms_span_groups_and_the_client_ignores_the_leak(
    dialect: str, copies: int, fake_client: MakeClient
) -> None:
    server = FakeMotiaServer(dialect)  # type: ignore[arg-type]
    server.seed("todo", "archive", todo("a", where="archive"))
    async with fake_client(server) as client:
        archived = client.subscribe_item("todo", "archive", "a")
        await archived.wait_for(lambda it: it is not None, timeout=WAIT)
        # 0.x keys item rooms by stream and id: another group's "a" reaches this room
        assert await server.set("todo", "inbox", todo("a", where="inbox")) == copies
        assert await server.send_event("todo", "inbox", "ping", 1, item_id="a") == copies
        assert archived.state == todo("a", where="archive")


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_frames_carry_the_dialect_envelope_and_the_servers_clock(dialect: str) -> None:
    ticks = iter(range(1000, 2000))
    server = FakeMotiaServer(dialect, clock=lambda: next(ticks))  # type: ignore[arg-type]
    frame = server.envelope("todo", "inbox", None, {"type": "sync", "data": []})
    expected: dict[str, Any] = {"type": "stream"} if dialect == "iii" else {}
    expected.update(timestamp=1000, streamName="todo", groupId="inbox")
    expected["event"] = {"type": "sync", "data": []}
    assert frame == expected  # no "id" for a group-level frame
    assert server.envelope("todo", "inbox", "a", {}, timestamp=7)["id"] == "a"


async def test_a_frame_older_than_the_servers_clock_is_dropped_by_the_client(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer(clock=lambda: 5_000)
    server.seed("todo", "inbox", todo("a", v=0))
    async with fake_client(server) as client:
        item = client.subscribe_item("todo", "inbox", "a")
        await item.wait_for(lambda it: it is not None, timeout=WAIT)  # synced at 5000
        await server.set("todo", "inbox", todo("a", v=1), timestamp=4_999)
        assert item.state == todo("a", v=0)  # strictly older: dropped
        await server.set("todo", "inbox", todo("a", v=2))  # the same millisecond: applied
        assert item.state == todo("a", v=2)


async def test_the_default_clock_is_epoch_milliseconds_never_going_back() -> None:
    server = FakeMotiaServer()
    stamps = [server.envelope("s", "g", None, {})["timestamp"] for _ in range(50)]
    assert stamps == sorted(stamps)
    assert abs(stamps[0] - time.time() * 1000) < 60_000


async def test_sync_group_resends_the_truth_and_seed_stays_silent(fake_client: MakeClient) -> None:
    server = FakeMotiaServer()
    server.seed("todo", "inbox", todo("a"))
    async with fake_client(server) as client:
        group = client.subscribe_group("todo", "inbox")
        seen: list[list[str]] = []
        group.add_change_listener(lambda items: seen.append([t["id"] for t in items]))
        await group.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        server.seed("todo", "inbox", todo("b"))  # stored, not sent
        await server.send_event("todo", "inbox", "marker")
        assert [t["id"] for t in group.state] == ["a"]
        assert await server.sync_group("todo", "inbox") == 1
        assert [t["id"] for t in group.state] == ["a", "b"]
        server.seed("todo", "inbox", todo("c"), replace=True)
        await server.sync_group("todo", "inbox")
        assert [t["id"] for t in group.state] == ["c"]
        assert seen == [["a"], ["a", "b"], ["c"]]


async def test_echo_state_events_sends_each_change_again_as_a_custom_event(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer(echo_state_events=True)
    async with fake_client(server) as client:
        group = client.subscribe_group("todo", "inbox")
        await group.wait_for(lambda items: True, timeout=WAIT)
        echoes: list[tuple[str, Any]] = []
        changes: list[int] = []
        group.on_any_event(lambda kind, data: echoes.append((kind, data)))
        group.add_change_listener(lambda items: changes.append(len(items)))
        await server.set("todo", "inbox", todo("a"))
        await server.set("todo", "inbox", todo("a", done=True))
        await server.delete("todo", "inbox", "a")
        assert echoes == [
            ("create", todo("a")),
            ("update", todo("a", done=True)),
            ("delete", todo("a", done=True)),
        ]
        assert changes == [0, 1, 1, 0]  # each state frame applied once


# -- what the server records ---------------------------------------------------------------


async def test_joins_leaves_connections_and_attempts_are_recorded(fake_client: MakeClient) -> None:
    server = FakeMotiaServer()
    async with fake_client(server) as client:
        group = client.subscribe_group("todo", "inbox")
        item = client.subscribe_item("todo", "inbox", "a")
        joins = await server.wait_for_joins(2)
        assert [(j["streamName"], j["groupId"], j.get("id")) for j in joins] == [
            ("todo", "inbox", None),
            ("todo", "inbox", "a"),
        ]
        assert len({j["subscriptionId"] for j in joins}) == 2
        await item.close()
        assert await server.wait_for_leaves(1) == [joins[1]]  # a leave repeats its join
        assert server.subscriptions == [("todo", "inbox", None)]
        conn = server.connections[0]
        assert conn.joins == joins
        assert [f["type"] for f in conn.received] == ["join", "join", "leave"]
        assert conn.subscriptions == {joins[0]["subscriptionId"]: ("todo", "inbox", None)}
        await group.close()
    assert server.connections[0].closed_by == "client"
    assert server.connections[0].close_code == 1000
    assert server.open_connections == []
    assert [a.status for a in server.attempts] == [101]
    assert server.attempts[0].request.safe_url == server.url


async def test_a_frame_that_is_not_json_is_recorded_and_ignored() -> None:
    from motia_client._auth import Credentials
    from motia_client._transport import ConnectRequest

    server = FakeMotiaServer()
    end = await server.transport(ConnectRequest(Credentials.build(server.url, None, "header")))
    await end.send("not json")
    await end.send('{"type": "join", "data": {"streamName": "todo"}}')  # malformed: ignored
    await end.send('{"type": "dance", "data": {}}')
    assert server.bad_frames == ["not json"]
    assert len(server.connections[0].received) == 2
    assert server.subscriptions == []
    assert not server.connections[0].closed
    await end.close()
    await end.close()  # twice is harmless
    with pytest.raises(MotiaConnectionError):
        await end.send("{}")


async def test_the_waits_are_bounded_and_say_what_they_waited_for() -> None:
    server = FakeMotiaServer()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError, match="3 joins") as info:
        await server.wait_for_joins(3, timeout=0.05)
    assert loop.time() - started < 1
    assert "0 open connections" in str(info.value)
    with pytest.raises(TimeoutError):
        await server.wait_for_connections(1, timeout=0.01)
    with pytest.raises(TimeoutError):
        await server.wait_until(lambda: False, timeout=0.01, what="never")


# -- refusals and auth ----------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_refuse_a_group_its_items_or_one_item(dialect: str, fake_client: MakeClient) -> None:
    server = FakeMotiaServer(dialect)  # type: ignore[arg-type]
    server.seed("todo", "inbox", todo("a"), todo("b"))
    server.refuse("todo", "secret")
    lift = server.refuse("todo", "inbox", "b")
    async with fake_client(server) as client:
        secret = client.subscribe_group("todo", "secret")
        secret_item = client.subscribe_item("todo", "secret", "s")
        b = client.subscribe_item("todo", "inbox", "b")
        inbox = client.subscribe_group("todo", "inbox")
        custom: list[Any] = []
        secret.on_event("error", custom.append)
        for sub in (secret, secret_item, b):
            with pytest.raises(SubscriptionRefused):
                await sub.wait_for(lambda state: True, timeout=WAIT)
        assert custom == []  # a refusal, never a custom event
        assert len(await inbox.wait_for(lambda items: len(items) == 2, timeout=WAIT)) == 2
        assert client.is_connected
        lift()
        lift()  # twice is harmless
        again = client.subscribe_item("todo", "inbox", "a")  # a room never refused: joined
        assert await again.wait_for(lambda it: it is not None, timeout=WAIT) == todo("a")
    async with fake_client(server) as fresh:  # the lifted rule no longer refuses
        b2 = fresh.subscribe_item("todo", "inbox", "b")
        assert await b2.wait_for(lambda it: it is not None, timeout=WAIT) == todo("b")


@pytest.mark.parametrize(("dialect", "said"), [("motia", "Stream todoo not found"), ("iii", "")])
async def test_unknown_streams_are_refused_when_streams_are_declared(
    dialect: str, said: str, fake_client: MakeClient
) -> None:
    server = FakeMotiaServer(dialect, streams=["todo"])  # type: ignore[arg-type]
    async with fake_client(server) as client:
        typo = client.subscribe_group("todoo", "inbox")
        good = client.subscribe_group("todo", "inbox")
        errors: list[MotiaError] = []
        typo.on_error(errors.append)
        with pytest.raises(SubscriptionRefused) as info:
            await typo.wait_for(lambda items: True, timeout=WAIT)
        assert said in str(info.value)
        await good.wait_for(lambda items: True, timeout=WAIT)
        await server.send_event("todo", "inbox", "marker")  # after both 0.x error frames
        assert len(errors) == 1


@pytest.mark.parametrize("auth", ["subprotocol", "header", "query"])
async def test_the_right_token_connects_whichever_way_it_travels(
    auth: str, fake_client: MakeClient
) -> None:
    server = FakeMotiaServer(token="s3cret-token")
    async with fake_client(server, token="s3cret-token", auth=auth) as client:
        assert client.is_connected
    attempt = server.attempts[0]
    assert (attempt.status, attempt.token) == (101, "s3cret-token")
    shown = f"{server!r} {server.attempts!r} {server.connections!r}"
    assert "s3cret" not in shown


async def test_motia_refuses_a_wrong_token_at_connect_with_authentication_error(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer("motia", token="right")
    client = fake_client(server, token="wrong")
    log = StateLog(client)
    with pytest.raises(AuthenticationError) as info:
        await client.connect()
    assert info.value.status == 401
    assert "wrong" not in str(info.value)
    assert S.FAILED in log.states
    no_token = fake_client(server)
    with pytest.raises(MotiaConnectionError, match="no token was sent") as plain:
        await no_token.connect()
    assert not isinstance(plain.value, AuthenticationError)
    assert [(a.token, a.status) for a in server.attempts] == [("wrong", 401), (None, 401)]
    assert server.connections == []


async def test_iii_accepts_a_wrong_token_and_refuses_every_join(fake_client: MakeClient) -> None:
    server = FakeMotiaServer("iii", token="right")
    server.seed("todo", "inbox", todo("a"))
    async with fake_client(server, token="wrong") as client:
        group = client.subscribe_group("todo", "inbox")
        with pytest.raises(SubscriptionRefused, match="unauthorized"):
            await group.wait_for(lambda items: True, timeout=WAIT)
        assert client.is_connected
    assert [a.status for a in server.attempts] == [101]
    assert not server.connections[0].authorized


async def test_a_token_change_on_the_server_takes_effect_at_the_next_connection(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer(token="t1")
    tokens = iter(["t1", "t2"])
    server.seed("todo", "inbox", todo("a"))
    async with fake_client(server, token=lambda: next(tokens)) as client:
        group = client.subscribe_group("todo", "inbox")
        await group.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        server.token = "t2"
        server.seed("todo", "inbox", todo("b"))
        await server.drop()
        await group.wait_for(lambda items: len(items) == 2, timeout=WAIT)
    assert [(a.token, a.status) for a in server.attempts] == [("t1", 101), ("t2", 101)]


# -- scripted faults --------------------------------------------------------------------------


async def test_drop_loses_every_connection_and_the_client_resyncs(fake_client: MakeClient) -> None:
    server = FakeMotiaServer()
    server.seed("todo", "inbox", todo("a"))
    client = fake_client(server)
    log = StateLog(client)
    async with client:
        group = client.subscribe_group("todo", "inbox")
        await group.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        server.seed("todo", "inbox", todo("b"))  # missed while away: the resync brings it
        assert await server.drop() == 1
        await log.wait(S.RECONNECTING)
        assert await server.drop() == 0  # nothing open any more
        await group.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        lost = next(c for c in log.changes if c.state is S.RECONNECTING)
        assert isinstance(lost.error, MotiaConnectionError)
        assert lost.error.close_code is None
        assert "lost" in str(lost.error)
        assert server.connections[0].closed_by == "server"
        assert len(server.open_connections) == 1


async def test_fail_next_fails_the_next_attempts_then_lets_one_through(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer()
    server.fail_next(2)
    client = fake_client(server)
    log = StateLog(client)
    await client.connect(wait=False)
    await log.wait(S.OPEN)
    assert [a.status for a in server.attempts] == [None, None, 101]
    retries = [c for c in log.changes if c.state is S.RECONNECTING]
    assert [c.attempt for c in retries] == [1, 2]
    assert all(isinstance(c.error, MotiaConnectionError) for c in retries)
    assert "fail_next" in str(retries[0].error)


async def test_fail_next_raises_the_given_error_from_connect(fake_client: MakeClient) -> None:
    server = FakeMotiaServer()
    refused = MotiaConnectionError("could not connect to ws://motia.invalid/: ConnectionRefused")
    server.fail_next(1, refused)
    with pytest.raises(MotiaConnectionError, match="ConnectionRefused"):
        await fake_client(server, reconnect=False).connect()
    server.fail_next(5)
    server.fail_next(0)  # stops it
    async with fake_client(server) as client:
        assert client.is_connected
    with pytest.raises(ValueError, match="count"):
        server.fail_next(-1)


async def test_delay_joins_answers_one_join_at_a_time_and_silence_is_not_a_delete(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer()
    server.seed("todo", "inbox", todo("a"), todo("b"))
    server.delay_joins(0.2)
    loop = asyncio.get_running_loop()
    async with fake_client(server) as client:
        started = loop.time()
        first = client.subscribe_item("todo", "inbox", "a")
        second = client.subscribe_item("todo", "inbox", "b")
        await server.wait_for_joins(2)
        assert server.subscriptions == []  # received, still being checked
        await first.wait_for(lambda it: it is not None, timeout=WAIT)
        assert loop.time() - started >= 0.19
        assert not second.synced
        assert second.state is None
        await second.wait_for(lambda it: it is not None, timeout=WAIT)
        assert loop.time() - started >= 0.39
        server.delay_joins(0)
        third = client.subscribe_group("todo", "inbox")
        assert len(await third.wait_for(lambda items: len(items) == 2, timeout=WAIT)) == 2
    with pytest.raises(ValueError, match="seconds"):
        server.delay_joins(-1)


async def test_a_leave_waits_behind_a_slow_join(fake_client: MakeClient) -> None:
    server = FakeMotiaServer()
    server.delay_joins(0.1)
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        await server.wait_for_joins(1)
        await sub.close()
        await server.wait_for_leaves(1)
        assert server.subscriptions == []  # not joined yet: the leave is queued behind it
        conn = server.connections[0]
        assert conn.pending == 2
        await server.wait_until(lambda: conn.pending == 0, what="both handled")
        assert server.subscriptions == []  # joined, then left, in order


async def test_a_stalled_group_goes_silent_while_the_connection_stays_up(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer()
    async with fake_client(server) as watcher:
        inbox = watcher.subscribe_group("todo", "inbox")
        work = watcher.subscribe_group("todo", "work")
        for sub in (inbox, work):
            await sub.wait_for(lambda items: True, timeout=WAIT)
        resume = server.stall("todo", "inbox")
        assert await server.set("todo", "inbox", todo("missed")) == 0
        assert await server.send_event("todo", "inbox", "ping") == 0
        assert await server.set("todo", "work", todo("w")) == 1  # other groups flow
        assert len(inbox.state) == 0
        assert len(work.state) == 1
        assert watcher.is_connected
        async with fake_client(server) as late:  # a new join sees the truth
            fresh = late.subscribe_group("todo", "inbox")
            assert len(await fresh.wait_for(lambda items: True, timeout=WAIT)) == 1
        resume()
        await server.set("todo", "inbox", todo("after"))
        assert [t["id"] for t in inbox.state] == ["after"]  # "missed" was lost: drift


async def test_verify_interval_brings_a_stalled_room_back_to_the_truth(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer()
    async with fake_client(server, verify_interval=0.2) as client:
        inbox = client.subscribe_group("todo", "inbox")
        await inbox.wait_for(lambda items: True, timeout=WAIT)
        server.stall("todo", "inbox")  # for good: only a new sync can tell the client
        await server.set("todo", "inbox", todo("missed"))
        items = await inbox.wait_for(lambda items: len(items) == 1, timeout=2)
        assert items[0]["id"] == "missed"


@pytest.mark.parametrize("code", [1008, 1009])
async def test_close_on_join_closes_with_the_code_and_the_client_gives_up_on_that_room(
    code: int, fake_client: MakeClient
) -> None:
    server = FakeMotiaServer()
    server.seed("todo", "inbox", todo("a"))
    server.close_on_join("todo", "poison", code)
    client = fake_client(server)
    log = StateLog(client)
    async with client:
        good = client.subscribe_group("todo", "inbox")
        bad = client.subscribe_group("todo", "poison")
        await log.wait(S.RECONNECTING)
        lost = next(c for c in log.changes if c.state is S.RECONNECTING)
        assert isinstance(lost.error, MotiaConnectionError)
        assert lost.error.close_code == code
        with pytest.raises(SubscriptionRefused, match=str(code)):
            await bad.wait_for(lambda items: True, timeout=WAIT)
        await server.set("todo", "inbox", todo("b"))
        await good.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert server.connections[0].close_code == code
        assert server.connections[0].closed_by == "server"


async def test_close_on_join_can_be_stopped(fake_client: MakeClient) -> None:
    server = FakeMotiaServer()
    stop = server.close_on_join("todo", None)  # any group of the stream
    async with fake_client(server) as client:
        client.subscribe_group("todo", "a")
        conn = await server.wait_for_connections(1)
        await server.wait_until(lambda: conn.closed, what="the close")
        assert conn.close_code == 1008
        stop()
        await server.wait_for_connections(2)
        other = client.subscribe_group("todo", "b")
        await other.wait_for(lambda items: True, timeout=WAIT)


async def test_disconnect_one_connection_with_a_close_code(fake_client: MakeClient) -> None:
    server = FakeMotiaServer()
    client = fake_client(server)
    log = StateLog(client)
    async with client:
        conn = await server.wait_for_connections(1)
        await conn.disconnect(1001)
        await log.wait(S.OPEN, count=2)
        change = next(c for c in log.changes if c.state is S.RECONNECTING)
        assert isinstance(change.error, MotiaConnectionError)
        assert change.error.close_code == 1001
        assert "1001" in str(change.error)


async def test_send_raw_sends_exact_frames_to_every_connection(fake_client: MakeClient) -> None:
    server = FakeMotiaServer(clock=lambda: 10)
    async with fake_client(server) as first, fake_client(server) as second:
        subs = [c.subscribe_item("todo", "inbox", "a") for c in (first, second)]
        await server.wait_for_joins(2)
        assert await server.send_raw("{broken") == 2  # skipped by the clients
        update = server.envelope("todo", "inbox", "a", {"type": "create", "data": todo("a")})
        assert await server.send_raw(update) == 2  # a dict: JSON-encoded
        assert [s.state for s in subs] == [todo("a"), todo("a")]
        binary = server.envelope("todo", "inbox", "a", {"type": "update", "data": todo("a", n=1)})
        await server.connections[1].send_raw(json.dumps(binary).encode())
        assert [s.state for s in subs] == [todo("a"), todo("a", n=1)]  # one connection only
        assert first.is_connected
        assert second.is_connected
        first_update = server.envelope("todo", "inbox", "a", {"type": "update", "data": {"n": 2}})
        second_update = server.envelope("todo", "inbox", "a", {"type": "update", "data": {"n": 3}})
        assert await server.send_raw(first_update, second_update) == 2  # in order
        assert [s.state for s in subs] == [{"n": 3}, {"n": 3}]
        with pytest.raises(ValueError, match="UTF-8"):
            await server.send_raw(first_update, "lone \ud800 surrogate")
        assert [s.state for s in subs] == [{"n": 3}, {"n": 3}]  # nothing was sent


async def test_a_frame_over_the_clients_max_size_fails_like_the_real_transport(
    fake_client: MakeClient,
) -> None:
    server = FakeMotiaServer()
    server.seed("todo", "inbox", todo("a"))
    server.seed("todo", "huge", *[todo(f"t{i}", pad="x" * 200) for i in range(200)])
    client = fake_client(server, max_size=20_000)
    log = StateLog(client)
    async with client:
        good = client.subscribe_group("todo", "inbox")
        huge = client.subscribe_group("todo", "huge")
        await log.wait(S.RECONNECTING)
        assert isinstance(log.changes[-1].error, FrameTooLarge)
        assert server.connections[0].close_code == 1009
        assert server.connections[0].closed_by == "client"
        with pytest.raises(SubscriptionRefused, match="max_size"):
            await huge.wait_for(lambda items: True, timeout=WAIT)
        await server.set("todo", "inbox", todo("b"))
        await good.wait_for(lambda items: len(items) == 2, timeout=WAIT)


async def test_close_ends_every_connection_and_refuses_new_ones(fake_client: MakeClient) -> None:
    async with FakeMotiaServer() as server:
        client = fake_client(server)
        log = StateLog(client)
        await client.connect()
        server.delay_joins(5)
        client.subscribe_group("todo", "inbox")
        await server.wait_for_joins(1)
    assert server.open_connections == []
    assert server.connections[0].close_code == 1001
    assert server.connections[0].pending == 0
    await asyncio.sleep(0)  # a cancelled task ends at the loop's next turn
    tasks = [t for t in asyncio.all_tasks() if t.get_name() == "fake-motia-joins"]
    assert tasks == []  # the slow join's task was stopped
    await log.wait(S.RECONNECTING, count=2)
    assert server.attempts[-1].status is None
    assert "closed" in str(server.attempts[-1].error)


# -- bad input ----------------------------------------------------------------------------------


async def test_bad_input_gets_a_clear_error_and_changes_nothing() -> None:
    server = FakeMotiaServer()
    server.seed("todo", "inbox", todo("a"))
    with pytest.raises(ValueError, match="'id'"):
        await server.set("todo", "inbox", {"description": "no id"})
    with pytest.raises(TypeError, match="JSON"):
        await server.set("todo", "inbox", todo("a", when=object()))
    with pytest.raises(TypeError, match="dict"):
        server.seed("todo", "inbox", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stream"):
        await server.set("", "inbox", todo("b"))
    with pytest.raises(ValueError, match="timestamp"):
        await server.set("todo", "inbox", todo("b"), timestamp=-1)
    with pytest.raises(TypeError, match="JSON"):
        await server.send_event("todo", "inbox", "ping", float("nan"))
    assert server.items("todo", "inbox") == [todo("a")]
    with pytest.raises(ValueError, match="dialect"):
        FakeMotiaServer("motia2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token"):
        FakeMotiaServer(token="")


async def test_a_stored_item_is_a_copy() -> None:
    server = FakeMotiaServer()
    item = todo("a", tags=["x"])
    await server.set("todo", "inbox", item)
    item["tags"].append("changed later")
    assert server.item("todo", "inbox", "a") == todo("a", tags=["x"])


# -- loops and threads --------------------------------------------------------------------------


def test_a_server_belongs_to_one_loop() -> None:
    server = FakeMotiaServer()

    async def use() -> None:
        await server.set("todo", "inbox", todo("a"))

    other = asyncio.new_event_loop()
    try:

        async def hold() -> None:
            await use()  # binds the server to this loop, which stays open
            with pytest.raises(RuntimeError, match="call"):
                server.call(server.items, "todo", "inbox")  # would block its own loop

        other.run_until_complete(hold())
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(use())
    finally:
        other.close()
    asyncio.run(use())  # the first loop is closed: the server moves on


def test_the_blocking_client_reaches_the_server_through_call() -> None:
    server = FakeMotiaServer()
    server.seed("todo", "inbox", todo("a"))
    server.call(server.refuse, "todo", "secret")  # before any client: runs here
    with StreamClient(server.url, transport=server.transport) as client:
        todos = client.subscribe_group("todo", "inbox")
        assert len(todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)) == 1
        where: list[str] = []
        todos.add_change_listener(lambda items: where.append(threading.current_thread().name))
        copies = server.call(server.set, "todo", "inbox", todo("b"))
        assert copies == 1
        assert [t["id"] for t in todos.wait_for(lambda i: len(i) == 2, timeout=WAIT)] == ["a", "b"]
        assert where[-1] == "motia-client-loop"
        joins = server.call(server.wait_for_joins, 1)
        assert joins[0]["groupId"] == "inbox"
        secret = client.subscribe_group("todo", "secret")
        with pytest.raises(SubscriptionRefused):
            secret.wait_for(lambda items: True, timeout=WAIT)
        assert server.call(lambda: len(server.subscriptions)) == 1
        with pytest.raises(TimeoutError):
            server.call(server.wait_for_joins, 9, timeout=0.05)
