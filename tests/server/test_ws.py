"""The stream socket: joins, syncs, state frames, fan-out, leaves, hooks and both dialects."""

from __future__ import annotations

import json

import pytest

from server_stub import JoinResult, StreamConfig, StubServer, Subscription
from server_stub.streams import AuthContext, HookContext

from .conftest import Client, join, leave, open_client, wait_until


async def test_group_join_syncs_then_streams_create_update_delete(stub: StubServer) -> None:
    await stub.store.set("todo", "inbox", "old", {"description": "x", "createdAt": "t"})
    client = await open_client(stub.ws_url)
    sync = await client.join_and_sync(join("todo", "inbox"))
    assert "type" not in sync
    assert sync["streamName"] == "todo"
    assert sync["groupId"] == "inbox"
    assert sync.get("id") is None
    assert [item["id"] for item in sync["event"]["data"]] == ["old"]

    created = await stub.store.set("todo", "inbox", "t1", {"description": "a", "createdAt": "t"})
    frame = await client.recv()
    assert frame["id"] == "t1"
    assert frame["event"] == {"type": "create", "data": created}
    updated = await stub.store.set("todo", "inbox", "t1", {"description": "b", "createdAt": "t"})
    assert await client.recv_event() == {"type": "update", "data": updated}
    await stub.store.delete("todo", "inbox", "t1")
    assert await client.recv_event() == {"type": "delete", "data": updated}
    stamps = [sync["timestamp"], frame["timestamp"]]
    assert all(isinstance(stamp, int) for stamp in stamps)
    assert stamps == sorted(stamps)
    await client.ws.close()


async def test_item_join_in_motia_sends_no_sync_for_a_missing_item(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    await client.send(join("openai", "trace", "message"))
    assert await client.silent()
    item = await stub.store.set("openai", "trace", "message", {"message": ""})
    frame = await client.recv()
    assert frame["id"] == "message"
    assert frame["event"] == {"type": "create", "data": item}
    await client.ws.close()


async def test_item_join_in_iii_syncs_null_and_frames_say_stream(iii_stub: StubServer) -> None:
    client = await open_client(iii_stub.ws_url)
    sync = await client.join_and_sync(join("openai", "trace", "message"))
    assert sync["type"] == "stream"
    assert sync["id"] == "message"
    assert sync["event"] == {"type": "sync", "data": None}
    await iii_stub.store.set("openai", "trace", "message", {"message": "hi"})
    frame = await client.recv()
    assert frame["type"] == "stream"
    assert frame["event"]["type"] == "create"
    await iii_stub.store.send_event("openai", "trace", "ping", {"n": 1}, item_id="message")
    event = await client.recv()
    assert event["type"] == "stream"
    assert event["event"] == {"type": "event", "event": {"type": "ping", "data": {"n": 1}}}
    await client.ws.close()


async def test_an_existing_item_syncs_its_value(stub: StubServer) -> None:
    item = await stub.store.set("openai", "g", "message", {"message": "so far"})
    client = await open_client(stub.ws_url)
    sync = await client.join_and_sync(join("openai", "g", "message"))
    assert sync["id"] == "message"
    assert sync["event"]["data"] == item
    await client.ws.close()


async def test_one_copy_per_subscription(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("s", "g"))
    await client.join_and_sync(join("s", "g"))
    await client.send(join("s", "g", "a"))
    assert await client.silent()
    await stub.store.set("s", "g", "a", {"v": 1})
    frames = [await client.recv() for _ in range(3)]
    assert all(frame == frames[0] for frame in frames)
    await stub.store.set("s", "g", "b", {"v": 1})
    assert (await client.recv())["id"] == "b"
    assert (await client.recv())["id"] == "b"
    assert await client.silent()
    await client.ws.close()


async def test_frames_of_other_groups_and_items_do_not_leak(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("s", "g"))
    await stub.store.set("s", "other", "a", {})
    await stub.store.set("t", "g", "a", {})
    await stub.store.send_event("s", "other", "ping", None)
    assert await client.silent()
    await client.ws.close()


async def test_custom_events_to_group_and_item(stub: StubServer) -> None:
    group = await open_client(stub.ws_url)
    item = await open_client(stub.ws_url)
    await group.join_and_sync(join("s", "g"))
    await item.send(join("s", "g", "a"))
    await stub.store.send_event("s", "g", "ping", {"n": 1})
    event = await group.recv()
    assert event.get("id") is None
    assert event["event"] == {"type": "event", "event": {"type": "ping", "data": {"n": 1}}}
    assert await item.silent()
    await stub.store.send_event("s", "g", "poke", "x", item_id="a")
    assert (await group.recv())["event"]["event"]["type"] == "poke"
    frame = await item.recv()
    assert frame["id"] == "a"
    assert frame["event"]["event"] == {"type": "poke", "data": "x"}
    await group.ws.close()
    await item.ws.close()


async def test_leave_stops_frames_and_answers_nothing(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    frame = join("s", "g")
    await client.join_and_sync(frame)
    await client.send(leave(frame))
    assert await client.silent()
    await stub.store.set("s", "g", "a", {})
    assert await client.silent()
    await client.send(leave(frame))  # a second leave is ignored
    await client.join_and_sync(join("s", "g"))
    await client.ws.close()


async def test_a_leave_for_another_room_is_ignored(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    frame = join("s", "g")
    await client.join_and_sync(frame)
    wrong = leave(frame)
    wrong["data"] = {**wrong["data"], "groupId": "other"}
    await client.send(wrong)
    await stub.store.set("s", "g", "a", {})
    assert (await client.recv_event())["type"] == "create"
    await client.ws.close()


async def test_joins_on_one_socket_are_answered_in_order(stub: StubServer) -> None:
    for n in range(5):
        await stub.store.set("s", f"g{n}", "a", {"n": n})
    client = await open_client(stub.ws_url)
    for n in range(5):
        await client.send(join("s", f"g{n}"))
    groups = [(await client.recv())["groupId"] for _ in range(5)]
    assert groups == [f"g{n}" for n in range(5)]
    await client.ws.close()


async def test_an_empty_id_is_a_group_join(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    frame = join("s", "g")
    frame["data"]["id"] = ""
    sync = await client.join_and_sync(frame)
    assert sync["event"]["data"] == []
    await client.ws.close()


async def test_joins_in_binary_frames_are_accepted(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    await client.ws.send(json.dumps(join("s", "g")).encode())
    assert (await client.recv_event())["type"] == "sync"
    await client.ws.close()


async def test_the_todo_watching_counter_follows_joins_leaves_and_disconnects(
    stub: StubServer,
) -> None:
    async def watching() -> int | None:
        item = await stub.store.get("inbox", "watching", "inbox")
        return None if item is None else int(item["watching"])

    first = await open_client(stub.ws_url)
    frame = join("todo", "inbox")
    await first.join_and_sync(frame)
    assert await watching() == 1
    second = await open_client(stub.ws_url)
    await second.join_and_sync(join("todo", "inbox"))
    await second.send(join("todo", "inbox", "some-todo"))
    await second.join_and_sync(join("inbox", "watching", "inbox"))
    assert await watching() == 3
    await first.send(leave(frame))
    await second.ws.close()
    for _ in range(300):
        if await watching() is None:
            break
        await first.silent(0.01)
    assert await watching() is None  # the last watcher out removed the presence item
    await first.ws.close()


async def test_private_messages_refuse_anonymous_joins_in_both_dialects() -> None:
    for dialect, expected in (
        (
            "motia",
            {
                "type": "event",
                "event": {
                    "type": "error",
                    "data": {"code": "STREAM_ACCESS_DENIED", "message": "Access denied"},
                },
            },
        ),
        ("iii", {"type": "unauthorized"}),
    ):
        async with StubServer(port=0, dialect=dialect) as stub:  # type: ignore[arg-type]
            client = await open_client(stub.ws_url)
            await client.send(join("private-messages", "alice", "m1"))
            frame = await client.recv()
            assert frame["id"] == "m1"
            assert frame["streamName"] == "private-messages"
            assert frame["event"] == expected
            await stub.store.set("private-messages", "alice", "m1", {"message": "secret"})
            assert await client.silent()
            await client.ws.close()


async def test_a_custom_hook_can_refuse_and_see_the_subscription() -> None:
    seen: list[Subscription] = []
    left: list[str] = []

    async def on_join(
        sub: Subscription, ctx: HookContext, auth: AuthContext | None
    ) -> JoinResult | None:
        seen.append(sub)
        return JoinResult(unauthorized=sub.group_id == "closed", reason="closed group")

    async def on_leave(sub: Subscription, ctx: HookContext, auth: AuthContext | None) -> None:
        left.append(sub.subscription_id)

    config = StreamConfig("rooms", on_join=on_join, on_leave=on_leave)
    async with StubServer(port=0, streams=[config]) as stub:
        client = await open_client(stub.ws_url)
        await client.send(join("rooms", "closed"))
        refused = await client.recv_event()
        assert refused["event"]["data"]["code"] == "STREAM_ACCESS_DENIED"
        frame = join("rooms", "open", "x", sub="sub-1")
        await client.send(frame)
        assert await client.silent()
        await client.send(leave(frame))
        await wait_until(lambda: left == ["sub-1"])
        assert seen[1] == Subscription("rooms", "open", "x", "sub-1")
        await client.ws.close()


async def test_a_failing_hook_refuses_the_join_and_keeps_the_socket() -> None:
    async def on_join(sub: Subscription, ctx: HookContext, auth: AuthContext | None) -> None:
        raise RuntimeError("hook bug")

    async with StubServer(port=0, streams=[StreamConfig("bad", on_join=on_join), "fine"]) as stub:
        client = await open_client(stub.ws_url)
        await client.send(join("bad", "g"))
        assert (await client.recv_event())["event"]["type"] == "error"
        await client.join_and_sync(join("fine", "g"))
        await client.ws.close()


@pytest.mark.parametrize("item_id", [None, "t1"])
async def test_a_stream_that_does_not_exist_is_refused_like_motia_0x(item_id: str | None) -> None:
    async with StubServer(port=0) as stub:
        await stub.store.set("nope", "g", "t1", {"written": "in-process"})  # data is no stream
        client = await open_client(stub.ws_url)
        await client.send(join("nope", "g", item_id))
        first, second = await client.recv(), await client.recv()
        assert first["streamName"] == "nope"
        assert first.get("id") == item_id
        assert first["event"] == {
            "type": "event",
            "event": {
                "type": "error",
                "data": {"code": "STREAM_ACCESS_DENIED", "message": "Stream nope not found"},
            },
        }
        assert second["event"]["event"]["data"] == {
            "code": "STREAM_ACCESS_DENIED",
            "message": "Access denied",
        }
        assert await client.silent()  # no sync, and no data of that stream later
        await stub.store.set("nope", "g", "t2", {})
        assert await client.silent()
        await client.join_and_sync(join("todo", "inbox"))
        await client.ws.close()


async def test_a_stream_that_does_not_exist_is_unauthorized_on_iii() -> None:
    async with StubServer(port=0, dialect="iii") as stub:
        client = await open_client(stub.ws_url)
        await client.send(join("nope", "g"))
        assert await client.recv_event() == {"type": "unauthorized"}
        assert await client.silent()
        await client.ws.close()


async def test_declared_streams_and_the_open_registry() -> None:
    async with StubServer(port=0, streams=["extra", StreamConfig("typed")]) as stub:
        client = await open_client(stub.ws_url)
        for name in ("todo", "inbox", "private-messages", "openai", "stats", "extra", "typed"):
            if name != "private-messages":
                await client.join_and_sync(join(name, "g"))
        await client.ws.close()
    async with StubServer(port=0, strict_streams=False) as stub:  # anything goes
        client = await open_client(stub.ws_url)
        await client.join_and_sync(join("anything", "g"))
        await client.ws.close()
    with pytest.raises(TypeError, match="list of stream names"):
        StubServer(streams="extra")
    with pytest.raises(ValueError, match="stream name"):
        StubServer(streams=[""])


async def test_a_reused_subscription_id_is_ignored(stub: StubServer) -> None:
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("s", "g", sub="same"))
    await client.send(join("s", "g", sub="same"))
    assert await client.silent()
    await stub.store.set("s", "g", "a", {})
    assert (await client.recv_event())["type"] == "create"
    assert await client.silent()
    await client.ws.close()


async def test_too_many_subscriptions_are_refused(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("server_stub.ws.MAX_SUBSCRIPTIONS_PER_SOCKET", 2)
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("s", "g1"))
    await client.join_and_sync(join("s", "g2"))
    await client.send(join("s", "g3"))
    assert (await client.recv_event())["event"]["data"]["code"] == "STREAM_ACCESS_DENIED"
    await client.ws.close()


async def test_connection_count(stub: StubServer) -> None:
    assert stub.connection_count == 0
    clients: list[Client] = [await open_client(stub.ws_url) for _ in range(3)]
    await wait_until(lambda: stub.connection_count == 3)
    for client in clients:
        await client.ws.close()
    await wait_until(lambda: stub.connection_count == 0)
