"""StreamClient: the blocking client, from a plain script and from inside a running loop.

The client runs its loop in a private thread; the in-memory ``FakeMotiaServer``
lives on that loop and the test's thread reaches it with ``server.call(...)``. The
plain-script test runs a real process against a real socket (``WsServer``).
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from motia_client import (
    AuthenticationError,
    BlockingSubscription,
    ClientClosedError,
    ConnectionState,
    Items,
    MotiaError,
    MotiaTimeout,
    StateChange,
    StreamClient,
    SubscriptionRefused,
)
from motia_client.testing import FakeMotiaServer
from tests.client.conftest import FAST
from tests.client.wsserver import WsServer

pytestmark = pytest.mark.timeout(60)

S = ConnectionState
ROOT = Path(__file__).resolve().parents[2]
LOOP_THREAD = "motia-client-loop"


def todo(todo_id: str, created: str) -> dict[str, Any]:
    return {"id": todo_id, "createdAt": created}


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == LOOP_THREAD]


@pytest.fixture
def seeded() -> FakeMotiaServer:
    """A server with two todos that refuses the secret group (reached with ``call``)."""
    server = FakeMotiaServer()
    server.refuse("todo", "secret")
    server.seed("todo", "inbox", todo("a", "1"), todo("b", "2"))
    return server


def blocking(server: FakeMotiaServer, **options: Any) -> StreamClient:
    options.setdefault("reconnect", FAST)
    return StreamClient(server.url, transport=server.transport, **options)


def test_blocking_client_follows_a_group_and_an_item(seeded: FakeMotiaServer) -> None:
    server = seeded
    states: list[StateChange] = []
    with blocking(server) as client:
        client.on_state_change(states.append)
        assert client.state is S.OPEN
        assert client.is_connected
        todos = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        item = client.subscribe_item("todo", "inbox", "a")
        assert isinstance(todos, BlockingSubscription)
        items = todos.wait_for(lambda items: len(items) == 2, timeout=5)
        assert isinstance(items, Items)
        assert [t["id"] for t in items] == ["a", "b"]
        assert item.wait_for(lambda it: it is not None, timeout=5) == todo("a", "1")
        assert todos.synced
        assert item.state == todo("a", "1")
        assert todos.items_by_id["b"] == todo("b", "2")
        with pytest.raises(TypeError):
            _ = item.items_by_id
        server.call(server.set, "todo", "inbox", todo("c", "0"))
        items = todos.wait_for(lambda items: len(items) == 3, timeout=5)
        assert [t["id"] for t in items] == ["c", "a", "b"]
        assert todos.ids == ("c", "a", "b")
        assert len(todos) == 3
        with pytest.raises(TypeError, match="ids is for group subscriptions"):
            _ = item.ids
        assert [t["id"] for t in todos.state] == ["c", "a", "b"]
        with pytest.raises(MotiaTimeout):
            todos.wait_for(lambda items: len(items) == 99, timeout=0.05)
    assert client.state is S.CLOSED
    assert [c.state for c in states] == [S.CLOSED]
    assert loop_threads() == []


def test_listeners_run_on_the_private_thread(seeded: FakeMotiaServer) -> None:
    server = seeded
    where: dict[str, str] = {}
    done = threading.Event()
    with blocking(server) as client:
        todos = client.subscribe_group("todo", "inbox")
        todos.wait_for(lambda items: len(items) == 2, timeout=5)

        def on_change(items: Items[Any]) -> None:
            where["change"] = threading.current_thread().name
            try:
                _ = todos.state  # a blocking call from a listener is refused
            except RuntimeError as exc:
                where["blocking call"] = str(exc)

        def on_ping(data: Any) -> None:
            where["event"] = threading.current_thread().name
            done.set()

        remove = todos.add_change_listener(on_change)
        todos.on_event("ping", on_ping)
        server.call(server.set, "todo", "inbox", todo("c", "3"))
        server.call(server.send_event, "todo", "inbox", "ping", 1)
        assert done.wait(5)
        remove()
        server.call(server.set, "todo", "inbox", todo("d", "4"))
        todos.wait_for(lambda items: len(items) == 4, timeout=5)
    assert where["change"] == LOOP_THREAD
    assert where["event"] == LOOP_THREAD
    assert "listener" in where["blocking call"]


def test_changes_is_a_plain_iterator_with_a_timeout(seeded: FakeMotiaServer) -> None:
    server = seeded
    with blocking(server) as client:
        todos = client.subscribe_group("todo", "inbox")
        seen: list[int] = []
        for items in todos.changes(timeout=5):
            seen.append(len(items))
            if len(items) == 2:
                server.call(server.set, "todo", "inbox", todo("c", "3"))
            if len(items) == 3:
                break
        assert seen[-2:] == [2, 3]
        # with nothing happening, the iterator ends quietly after its timeout
        quiet = list(todos.changes(timeout=0.1))
        assert [len(items) for items in quiet] == [3]


def test_a_refusal_surfaces_on_the_blocking_subscription(seeded: FakeMotiaServer) -> None:
    server = seeded
    errors: list[MotiaError] = []
    client = blocking(server)
    secret = client.subscribe_group("todo", "secret")
    secret.on_error(errors.append)  # before connect(): the refusal cannot come first
    with client:
        with pytest.raises(SubscriptionRefused):
            secret.wait_for(lambda items: True, timeout=5)
        with pytest.raises(SubscriptionRefused):
            list(secret.changes(timeout=5))
        assert isinstance(secret.error, SubscriptionRefused)
        assert [type(e) for e in errors] == [SubscriptionRefused]
        inbox = client.subscribe_group("todo", "inbox")
        assert len(inbox.wait_for(lambda items: len(items) == 2, timeout=5)) == 2


@pytest.mark.filterwarnings("error::RuntimeWarning")  # e.g. "coroutine was never awaited"
def test_close_stops_the_thread_and_ends_the_subscriptions(seeded: FakeMotiaServer) -> None:
    server = seeded
    before = threading.active_count()
    client = blocking(server)
    sub = client.subscribe_group("todo", "inbox")  # before connect: joined once open
    client.connect()
    last = sub.wait_for(lambda items: len(items) == 2, timeout=5)
    sub.add_change_listener(lambda items: None)
    sub.on_event("ping", lambda data: None)
    assert len(loop_threads()) == 1
    client.close()
    client.close()  # idempotent
    sub.close()  # after the client: harmless
    assert loop_threads() == []
    assert threading.active_count() == before
    assert sub.closed
    assert not client._async._state_listeners
    assert not sub._sub._sink.change_listeners
    with pytest.raises(ClientClosedError):
        client.subscribe_group("todo", "inbox")
    with pytest.raises(ClientClosedError):
        client.connect()
    # The last state stays readable after the close, without a loop thread.
    assert [item["id"] for item in sub.state] == [item["id"] for item in last]
    assert set(sub.items_by_id) == {item["id"] for item in last}
    assert loop_threads() == []


def test_a_closed_subscription_sends_its_leave(seeded: FakeMotiaServer) -> None:
    server = seeded
    with blocking(server) as client:
        with client.subscribe_group("todo", "inbox") as sub:
            sub.wait_for(lambda items: len(items) == 2, timeout=5)
        assert sub.closed

        assert len(server.call(server.wait_for_leaves, 1)) == 1


def test_a_401_at_connect_raises_and_stops_the_thread() -> None:
    server = FakeMotiaServer(token="right")
    client = blocking(server, token="wrong")
    with pytest.raises(AuthenticationError):
        client.connect()
    assert loop_threads() == []
    with pytest.raises(AuthenticationError), blocking(server, token="x"):
        pass
    assert loop_threads() == []
    assert [a.status for a in server.attempts] == [401, 401]


async def test_blocking_client_inside_a_running_event_loop(seeded: FakeMotiaServer) -> None:
    asyncio.get_running_loop()  # as in Jupyter: this thread already runs a loop
    server = seeded
    with blocking(server) as client:
        todos = client.subscribe_group("todo", "inbox")
        items = todos.wait_for(lambda items: len(items) == 2, timeout=5)
        assert [t["id"] for t in items] == ["a", "b"]
        server.call(server.set, "todo", "inbox", todo("c", "3"))
        assert len(todos.wait_for(lambda items: len(items) == 3, timeout=5)) == 3
    assert loop_threads() == []


SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from motia_client import StreamClient

    url, transport = sys.argv[1], sys.argv[2]
    with StreamClient(url, transport=transport) as client:
        todos = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        items = todos.wait_for(lambda items: len(items) >= 2, timeout=10)
        print("ids", *[t["id"] for t in items], flush=True)
        for items in todos.changes(timeout=10):
            if len(items) == 3:
                print("third", items[0]["id"], flush=True)
                break
    print("threads", *sorted(t.name for t in threading.enumerate()), flush=True)
    """
)


async def test_blocking_client_from_a_plain_script(server: WsServer, transport: str) -> None:
    server.store[("todo", "inbox")] = {"a": todo("a", "1"), "b": todo("b", "2")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        server.url,
        transport,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), 20)
        assert first.decode().split() == ["ids", "a", "b"]
        await server.set("todo", "inbox", todo("c", "0"))
        out, err = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines() == ["third c", "threads MainThread"]
