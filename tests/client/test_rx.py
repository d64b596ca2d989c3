"""motia_client.rx: the hook-like observables.

- ``conflate`` and ``scheduler=`` are timing: they run on reactivex's virtual-time
  ``TestScheduler``, deterministic and instant.
- Everything else runs against the reference server (``server_stub.StubServer``,
  in process, 127.0.0.1, a free port). Its seed ``todo`` stream counts joins in
  ``inbox/watching/<group>`` (on_join +1, on_leave -1): that counter is how these
  tests see "one join" and "the last disposal leaves" from the server's side.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pydantic
import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler import EventLoopScheduler
from reactivex.testing import ReactiveTest, TestScheduler

import motia_client.rx
from motia_client import (
    AsyncStreamClient,
    ConnectionState,
    Items,
    MotiaConnectionError,
    StreamClient,
    SubscriptionRefused,
)
from motia_client.rx import (
    use_motia_stream,
    use_stream_event_handler,
    use_stream_group,
    use_stream_item,
)
from motia_client.rx._conflate import conflate
from server_stub import StubServer

on_next = ReactiveTest.on_next
on_error = ReactiveTest.on_error
on_completed = ReactiveTest.on_completed
WAIT = 5.0


def todo(n: int, **extra: Any) -> dict[str, Any]:
    """A todo that matches the seed schema."""
    return {"id": f"t{n}", "description": f"todo {n}", "createdAt": f"2024-01-0{n}", **extra}


class Recorder:
    """An observer that records what it gets, and on which thread."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.errors: list[Exception] = []
        self.completed = False
        self.threads: set[int] = set()

    def on_next(self, value: Any) -> None:
        self.threads.add(threading.get_ident())
        self.values.append(value)

    def on_error(self, error: Exception) -> None:
        self.threads.add(threading.get_ident())
        self.errors.append(error)

    def on_completed(self) -> None:
        self.threads.add(threading.get_ident())
        self.completed = True

    @property
    def ended(self) -> bool:
        return self.completed or bool(self.errors)


async def eventually(predicate: Callable[[], bool], what: str = "condition") -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def wait_until(predicate: Callable[[], bool], what: str = "condition") -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def ids(items: Any) -> list[str]:
    return [item["id"] for item in items]


# -- the package ------------------------------------------------------------------------


def test_all_is_sorted_and_complete() -> None:
    assert motia_client.rx.__all__ == sorted(motia_client.rx.__all__)
    public = {name for name in vars(motia_client.rx) if not name.startswith("_")}
    assert public - {"annotations"} == set(motia_client.rx.__all__)
    for name in motia_client.rx.__all__:
        assert getattr(motia_client.rx, name).__module__ == "motia_client.rx"


def test_bad_arguments_are_refused_at_call_time() -> None:
    client = AsyncStreamClient("ws://127.0.0.1:9/")
    with pytest.raises(TypeError, match="AsyncStreamClient or a StreamClient"):
        use_stream_group(object(), "todo", "inbox")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="conflate"):
        use_stream_group(client, "todo", "inbox", conflate=-1)
    with pytest.raises(TypeError, match="both stream and group_id"):
        use_motia_stream(client, "todo")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="seconds >= 0"):
        conflate(-0.5)


# -- conflate, in virtual time ------------------------------------------------------------


def test_conflate_emits_leading_and_trailing_latest() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(
        on_next(210, "a"),  # quiet before: emitted at once, opens a 50-tick interval
        on_next(220, "b"),  # conflated ...
        on_next(230, "c"),  # ... only the latest survives, emitted at 260
        on_next(300, "d"),  # 260-310 runs after the trailing emission: held until 310
        on_next(400, "e"),  # quiet again: at once
        on_completed(500),
    )
    observer = scheduler.start(lambda: source.pipe(conflate(50, scheduler)))
    assert observer.messages == [
        on_next(210, "a"),
        on_next(260, "c"),
        on_next(310, "d"),
        on_next(400, "e"),
        on_completed(500),
    ]


def test_conflate_never_loses_the_last_value_on_completion() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(
        on_next(210, 1), on_next(215, 2), on_next(220, 3), on_completed(225)
    )
    observer = scheduler.start(lambda: source.pipe(conflate(100, scheduler)))
    assert observer.messages == [on_next(210, 1), on_next(225, 3), on_completed(225)]


def test_conflate_passes_errors_at_once() -> None:
    scheduler = TestScheduler()
    error = RuntimeError("refused")
    source = scheduler.create_hot_observable(on_next(210, 1), on_next(220, 2), on_error(230, error))
    observer = scheduler.start(lambda: source.pipe(conflate(100, scheduler)))
    assert observer.messages == [on_next(210, 1), on_error(230, error)]


def test_conflate_stops_its_timer_on_dispose() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(on_next(210, 1), on_next(220, 2), on_next(600, 3))
    observer = scheduler.start(lambda: source.pipe(conflate(100, scheduler)), disposed=250)
    assert observer.messages == [on_next(210, 1)]
    assert source.subscriptions == [ReactiveTest.subscribe(200, 250)]


def test_conflate_under_a_token_storm_emits_once_per_interval() -> None:
    scheduler = TestScheduler()
    tokens = [on_next(201 + i, i) for i in range(300)]  # one token per tick for 300 ticks
    source = scheduler.create_hot_observable(tokens)
    observer = scheduler.start(lambda: source.pipe(conflate(100, scheduler)), disposed=2000)
    times = [message.time for message in observer.messages]
    assert times == [201, 301, 401, 501]  # leading, then one per interval
    assert observer.messages[-1].value.value == 299  # and the last token is there


# -- against the reference server (asyncio client) ----------------------------------------


@pytest.fixture
async def stub() -> AsyncIterator[StubServer]:
    async with StubServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
async def client(stub: StubServer) -> AsyncIterator[AsyncStreamClient]:
    async with AsyncStreamClient(stub.ws_url) as c:
        yield c


async def watching(stub: StubServer, group: str = "inbox") -> int:
    """How many server-side joins the todo group has (the seed's on_join counter)."""
    counter = await stub.store.get("inbox", "watching", group)
    return int(counter["watching"]) if counter else 0


async def answered(client: AsyncStreamClient) -> None:
    """Return once the server has handled every frame the client sent before this call.

    A marker join goes out after them (one socket: frames in order), and the
    server handles a socket's frames one at a time, hooks included: the marker's
    sync comes after all of them. No sleeping, no guessing how long is enough.
    """
    marker = client.subscribe_group("todo", "marker")
    await marker.wait_for(lambda items: True, WAIT)
    await marker.close()


async def eventually_watching(stub: StubServer, expected: int) -> None:
    deadline = time.monotonic() + WAIT
    while (count := await watching(stub)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} joins, expected {expected}")
        await asyncio.sleep(0.01)


async def test_nothing_is_joined_before_the_first_observer(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    await stub.store.set("todo", "inbox", "t1", todo(1))
    todos = use_stream_group(client, "todo", "inbox")
    await answered(client)  # a join made at call time would have been handled by now
    assert await watching(stub) == 0
    recorder = Recorder()
    todos.subscribe(recorder)
    await eventually(lambda: bool(recorder.values), "the first sync")
    assert ids(recorder.values[0]) == ["t1"]
    assert await watching(stub) == 1


async def test_observers_share_one_join_and_the_last_disposal_leaves(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    todos = use_stream_group(client, "todo", "inbox")
    first, second = Recorder(), Recorder()
    d1 = todos.subscribe(first)
    d2 = todos.subscribe(second)
    await eventually(lambda: bool(first.values and second.values), "the sync")
    await stub.store.set("todo", "inbox", "t1", todo(1))
    await eventually(lambda: len(second.values) == 2, "the create")
    assert await watching(stub) == 1  # two observers, one join
    assert [ids(v) for v in first.values] == [[], ["t1"]] == [ids(v) for v in second.values]
    d1.dispose()
    await answered(client)  # a leave sent on this dispose would have been handled by now
    assert await watching(stub) == 1  # still one observer
    d2.dispose()
    await eventually_watching(stub, 0)  # the leave
    await stub.store.set("todo", "inbox", "t2", todo(2))
    again = client.subscribe_group("todo", "inbox")  # the room again: its sync holds t2
    await again.wait_for(lambda items: ids(items) == ["t1", "t2"], WAIT)
    assert len(first.values) == len(second.values) == 2  # nothing after the disposal


async def test_a_late_observer_gets_the_current_state_at_once(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    await stub.store.set("todo", "inbox", "t1", todo(1))
    todos = use_stream_group(client, "todo", "inbox")
    early = Recorder()
    todos.subscribe(early)
    await eventually(lambda: bool(early.values), "the sync")
    late = Recorder()
    todos.subscribe(late)  # on the loop: delivered during subscribe, no await needed
    assert [ids(v) for v in late.values] == [["t1"]]
    assert await watching(stub) == 1


async def test_an_observer_before_the_sync_waits_for_it(client: AsyncStreamClient) -> None:
    recorder = Recorder()
    use_stream_item(client, "todo", "inbox", "t1").subscribe(recorder)
    assert recorder.values == []  # no state yet: nothing replayed, nothing invented


async def test_rejoining_after_the_last_disposal_starts_fresh(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    item = use_stream_item(client, "todo", "inbox", "t1")
    first = Recorder()
    disposable = item.subscribe(first)
    await stub.store.set("todo", "inbox", "t1", todo(1, description="old"))
    await eventually(lambda: any(v and v["description"] == "old" for v in first.values))
    disposable.dispose()
    await eventually_watching(stub, 0)
    await stub.store.set("todo", "inbox", "t1", todo(1, description="new"))
    again = Recorder()
    item.subscribe(again)
    await eventually(lambda: bool(again.values), "the new sync")
    assert again.values[0]["description"] == "new"  # not the stale "old" replayed
    assert await watching(stub) == 1


async def test_item_values_follow_the_item_until_its_deletion(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    recorder = Recorder()
    use_stream_item(client, "todo", "inbox", "t1").subscribe(recorder)
    await eventually_watching(stub, 1)  # joined: a missing item gets no frame on 0.x
    await stub.store.set("todo", "inbox", "t1", todo(1))
    await stub.store.update(
        "todo", "inbox", "t1", [{"type": "set", "path": "dueDate", "value": "x"}]
    )
    await stub.store.delete("todo", "inbox", "t1")
    await eventually(lambda: len(recorder.values) >= 3 and recorder.values[-1] is None)
    states = [None if v is None else v.get("dueDate", "-") for v in recorder.values]
    assert states[-3:] == ["-", "x", None]


async def test_models_and_sort_key(stub: StubServer, client: AsyncStreamClient) -> None:
    class Todo(pydantic.BaseModel):
        id: str
        description: str
        createdAt: str

    await stub.store.set("todo", "inbox", "t2", todo(2))
    await stub.store.set("todo", "inbox", "t1", todo(1))
    recorder = Recorder()
    use_stream_group(client, "todo", "inbox", sort_key="createdAt", model=Todo).subscribe(recorder)
    await eventually(lambda: bool(recorder.values))
    assert [t.id for t in recorder.values[0]] == ["t1", "t2"]
    assert all(isinstance(t, Todo) for t in recorder.values[0])
    item = Recorder()
    use_stream_item(client, "todo", "inbox", "t2", model=Todo).subscribe(item)
    await eventually(lambda: bool(item.values))
    assert item.values[0] == Todo(**todo(2))


async def test_values_are_immutable_snapshots(stub: StubServer, client: AsyncStreamClient) -> None:
    recorder = Recorder()
    use_stream_group(client, "todo", "inbox").subscribe(recorder)
    await eventually(lambda: bool(recorder.values))
    for n in (1, 2, 3):
        await stub.store.set("todo", "inbox", f"t{n}", todo(n))
    await stub.store.delete("todo", "inbox", "t1")
    await eventually(lambda: len(recorder.values) == 5)
    assert all(isinstance(v, Items) for v in recorder.values)
    # each kept value still shows the group as it was when it was emitted
    assert [ids(v) for v in recorder.values] == [
        [],
        ["t1"],
        ["t1", "t2"],
        ["t1", "t2", "t3"],
        ["t2", "t3"],
    ]


async def test_values_are_emitted_on_the_client_loop(client: AsyncStreamClient) -> None:
    recorder = Recorder()
    use_motia_stream(client).subscribe(recorder)
    use_stream_group(client, "todo", "inbox").subscribe(recorder)
    await eventually(lambda: len(recorder.values) == 2)
    assert recorder.threads == {threading.get_ident()}  # this test's loop thread


async def test_a_refused_join_reaches_on_error(client: AsyncStreamClient) -> None:
    recorder = Recorder()
    use_stream_group(client, "private-messages", "alice").subscribe(recorder)
    await eventually(lambda: recorder.ended, "the refusal")
    assert recorder.values == []
    assert isinstance(recorder.errors[0], SubscriptionRefused)
    assert recorder.errors[0].stream == "private-messages"


async def test_closing_the_client_completes_every_observable(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    recorders = [Recorder() for _ in range(5)]
    use_stream_group(client, "todo", "inbox").subscribe(recorders[0])
    use_stream_item(client, "todo", "inbox", "t1").subscribe(recorders[1])
    use_stream_event_handler(client, "todo", "inbox", "ping").subscribe(recorders[2])
    use_motia_stream(client).subscribe(recorders[3])
    use_motia_stream(client, "todo", "inbox").subscribe(recorders[4])
    await eventually(lambda: bool(recorders[0].values and recorders[4].values))
    await client.close()
    assert all(r.completed and not r.errors for r in recorders)
    assert recorders[3].values == [ConnectionState.OPEN, ConnectionState.CLOSED]
    assert recorders[4].values[-1][1] is False  # the pair saw the disconnection
    late = Recorder()
    use_stream_group(client, "todo", "inbox").subscribe(late)
    assert late.completed
    assert late.values == []
    from_a_thread = Recorder()
    worker = threading.Thread(
        target=lambda: use_stream_item(client, "todo", "inbox", "t1").subscribe(from_a_thread)
    )
    worker.start()
    worker.join(WAIT)
    assert from_a_thread.completed  # not an error about the loop: the client is closed
    late_state = Recorder()
    use_motia_stream(client).subscribe(late_state)
    assert late_state.values == [ConnectionState.CLOSED]
    assert late_state.completed


async def test_a_failed_client_errors_the_observables(stub: StubServer) -> None:
    client = AsyncStreamClient(stub.ws_url, reconnect=False)
    await client.connect()
    try:
        group, state = Recorder(), Recorder()
        use_stream_group(client, "todo", "inbox").subscribe(group)
        use_motia_stream(client).subscribe(state)
        await eventually(lambda: bool(group.values))
        await stub.drop_connections()
        await eventually(lambda: group.ended and state.ended, "the failure")
        assert isinstance(group.errors[0], MotiaConnectionError)
        assert state.values[-1] is ConnectionState.FAILED
        assert state.completed
    finally:
        await client.close()


async def test_events_are_delivered_and_never_replayed(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    pings = use_stream_event_handler(client, "todo", "inbox", "ping")
    on_item = use_stream_event_handler(client, "todo", "inbox", "ping", item_id="t1")
    group_events, item_events = Recorder(), Recorder()
    pings.subscribe(group_events)
    on_item.subscribe(item_events)
    await eventually_watching(stub, 2)  # the group and the item are both joined
    await stub.store.send_event("todo", "inbox", "ping", {"n": 1})
    await stub.store.send_event("todo", "inbox", "ping", {"n": 2}, item_id="t1")
    await stub.store.send_event("todo", "inbox", "other", {"n": 3})
    await eventually(lambda: len(group_events.values) == 2 and len(item_events.values) == 1)
    assert group_events.values == [{"n": 1}, {"n": 2}]
    assert item_events.values == [{"n": 2}]
    late = Recorder()
    pings.subscribe(late)
    assert late.values == []  # events are not state


async def test_use_motia_stream_pairs_follow_items_and_connection(
    stub: StubServer,
) -> None:
    async with AsyncStreamClient(stub.ws_url) as client:
        recorder = Recorder()
        use_motia_stream(client, "todo", "inbox").subscribe(recorder)
        await eventually(lambda: bool(recorder.values))
        await stub.store.set("todo", "inbox", "t1", todo(1))
        await eventually(lambda: len(recorder.values) == 2)
        await stub.drop_connections()
        await eventually(lambda: any(not c for _, c in recorder.values), "the disconnection")
        await eventually(lambda: recorder.values[-1][1], "the reconnection")
        pairs = [(ids(items), connected) for items, connected in recorder.values]
        assert pairs[:3] == [([], True), (["t1"], True), (["t1"], False)]
        assert pairs[-1] == (["t1"], True)
        assert len({tuple(p[0]) for p in pairs}) == 2  # no flash of empty on the resync


async def test_an_observer_that_raises_does_not_disturb_the_others(
    stub: StubServer, client: AsyncStreamClient, caplog: pytest.LogCaptureFixture
) -> None:
    todos = use_stream_group(client, "todo", "inbox")

    def explode(_: Any) -> None:
        raise ValueError("boom")

    todos.subscribe(explode)
    recorder = Recorder()
    todos.subscribe(recorder)
    await eventually(lambda: bool(recorder.values), "the sync")
    await stub.store.set("todo", "inbox", "t1", todo(1))
    await eventually(lambda: len(recorder.values) == 2)
    assert "an observer of todo/inbox raised" in caplog.text


async def test_conflate_on_the_loop_keeps_the_last_state(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    recorder = Recorder()
    use_stream_item(client, "todo", "inbox", "t1", conflate=0.2).subscribe(recorder)
    await eventually_watching(stub, 1)
    for n in range(40):  # token by token
        await stub.store.set("todo", "inbox", "t1", todo(1, description="x" * n))
    await eventually(
        lambda: bool(recorder.values) and recorder.values[-1]["description"] == "x" * 39
    )
    assert len(recorder.values) < 10
    assert recorder.threads == {threading.get_ident()}


async def test_scheduler_moves_emissions_and_conflates_in_virtual_time(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    scheduler = TestScheduler()
    recorder = Recorder()
    item = use_stream_item(client, "todo", "inbox", "t1", scheduler=scheduler, conflate=10.0)
    item.subscribe(recorder)
    sub = client.subscribe_item("todo", "inbox", "t1")  # to know when the frames arrived
    await eventually_watching(stub, 1)
    for n in range(5):
        await stub.store.set("todo", "inbox", "t1", todo(1, description=f"v{n}"))
    await sub.wait_for(lambda value: value is not None and value["description"] == "v4", WAIT)
    # The session tells every member of the room in the same receive: the observable
    # has seen v4 too, and queued it on the virtual scheduler.
    assert recorder.values == []  # not delivered until virtual time moves
    scheduler.advance_to(1.0)  # the leading value
    assert [v["description"] for v in recorder.values] == ["v0"]
    scheduler.advance_to(20.0)  # the interval ends: only the latest of the rest
    assert [v["description"] for v in recorder.values] == ["v0", "v4"]


async def test_an_unconnected_async_client_needs_its_loop(stub: StubServer) -> None:
    client = AsyncStreamClient(stub.ws_url)
    recorder = Recorder()
    worker = threading.Thread(
        target=lambda: use_stream_group(client, "todo", "inbox").subscribe(recorder)
    )
    worker.start()
    worker.join(WAIT)
    assert isinstance(recorder.errors[0], RuntimeError)
    assert "event loop" in str(recorder.errors[0])
    # on its loop, before connect: joined once the connection opens
    todos = Recorder()
    use_stream_group(client, "todo", "inbox").subscribe(todos)
    await client.connect()
    try:
        await eventually(lambda: bool(todos.values))
    finally:
        await client.close()


# -- against the reference server (blocking client) ----------------------------------------


@pytest.fixture
def threaded_stub() -> Iterator[StubServer]:
    with StubServer(host="127.0.0.1", port=0).in_thread() as server:
        yield server


@pytest.fixture
def blocking_client(threaded_stub: StubServer) -> Iterator[StreamClient]:
    with StreamClient(threaded_stub.ws_url) as c:
        yield c


def blocking_watching(stub: StubServer) -> int:
    counter = stub.run(stub.store.get("inbox", "watching", "inbox"))
    return int(counter["watching"]) if counter else 0


def test_blocking_client_emits_on_its_thread(
    threaded_stub: StubServer, blocking_client: StreamClient
) -> None:
    threaded_stub.run(threaded_stub.store.set("todo", "inbox", "t1", todo(1)))
    todos = use_stream_group(blocking_client, "todo", "inbox")
    first, second = Recorder(), Recorder()
    d1 = todos.subscribe(first)
    wait_until(lambda: bool(first.values), "the sync")
    d2 = todos.subscribe(second)
    wait_until(lambda: bool(second.values), "the replay")
    threaded_stub.run(threaded_stub.store.set("todo", "inbox", "t2", todo(2)))
    wait_until(lambda: len(first.values) == 2 and len(second.values) == 2)
    (loop_thread,) = [t for t in threading.enumerate() if t.name == "motia-client-loop"]
    assert first.threads == second.threads == {loop_thread.ident}
    assert [ids(v) for v in second.values] == [["t1"], ["t1", "t2"]]
    assert blocking_watching(threaded_stub) == 1
    d1.dispose()
    d2.dispose()
    wait_until(lambda: blocking_watching(threaded_stub) == 0, "the leave")


def test_blocking_dispose_right_after_subscribe_leaves_nothing_behind(
    threaded_stub: StubServer, blocking_client: StreamClient
) -> None:
    todos = use_stream_group(blocking_client, "todo", "inbox")
    for _ in range(20):
        todos.subscribe(Recorder()).dispose()
    keeper = Recorder()
    disposable = todos.subscribe(keeper)
    wait_until(lambda: bool(keeper.values))
    assert blocking_watching(threaded_stub) == 1
    disposable.dispose()
    wait_until(lambda: blocking_watching(threaded_stub) == 0, "the leave")


def test_blocking_scheduler_and_close(
    threaded_stub: StubServer, blocking_client: StreamClient
) -> None:
    elsewhere = EventLoopScheduler()
    try:
        recorder = Recorder()
        use_motia_stream(blocking_client, scheduler=elsewhere).subscribe(recorder)
        wait_until(lambda: bool(recorder.values))
        assert recorder.values == [ConnectionState.OPEN]
        (loop_thread,) = [t for t in threading.enumerate() if t.name == "motia-client-loop"]
        assert loop_thread.ident not in recorder.threads
        blocking_client.close()
        wait_until(lambda: recorder.completed, "the completion")
        assert recorder.values == [ConnectionState.OPEN, ConnectionState.CLOSED]
    finally:
        elsewhere.dispose()
    after = Recorder()
    use_stream_item(blocking_client, "todo", "inbox", "t1").subscribe(after)
    assert after.completed  # the client is gone: completed on the caller's thread
    state = Recorder()
    use_motia_stream(blocking_client).subscribe(state)
    assert state.values == [ConnectionState.CLOSED]
    assert state.completed


def test_blocking_pipeline_with_operators(
    threaded_stub: StubServer, blocking_client: StreamClient
) -> None:
    """The observables compose like any reactivex observable."""
    counts: list[int] = []
    done = threading.Event()
    use_stream_group(blocking_client, "todo", "inbox").pipe(
        ops.map(len), ops.distinct_until_changed(), ops.take(3)
    ).subscribe(counts.append, on_completed=done.set)
    wait_until(lambda: counts == [0])
    for n in (1, 2):
        threaded_stub.run(threaded_stub.store.set("todo", "inbox", f"t{n}", todo(n)))
    assert done.wait(WAIT)
    assert counts == [0, 1, 2]
    wait_until(lambda: blocking_watching(threaded_stub) == 0, "take(3) disposing: the leave")


def test_reactivex_is_the_library() -> None:
    """The observables are reactivex's own: every operator and scheduler applies."""
    client = AsyncStreamClient("ws://127.0.0.1:9/")
    assert isinstance(use_stream_group(client, "todo", "inbox"), reactivex.Observable)
