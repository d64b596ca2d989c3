"""Regression tests for the client defects of issue 20 (an independent attack on the client).

Each drives the real client against the in-memory ``FakeMotiaServer`` (its scripted
faults stand in for the misbehaving servers), and failed before its fix.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import time
import tracemalloc
from typing import Any

import pytest

from motia_client import (
    AsyncStreamClient,
    ConnectionState,
    MotiaError,
    ReconnectPolicy,
    StateChange,
)
from motia_client._config import Config
from motia_client._session import Timer
from motia_client._supervisor import Supervisor
from motia_client.testing import FakeMotiaServer
from tests.client.wsserver import envelope
from tests.reliability.harness import wait_until

pytestmark = pytest.mark.timeout(60)


def todo(todo_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": todo_id, "description": f"todo {todo_id}", **extra}


# -- 1. the supervisor never dies silently -------------------------------------------------


def test_the_backoff_stays_at_its_cap_however_many_attempts_failed() -> None:
    policy = ReconnectPolicy()
    for attempt in (1024, 1025, 5000, 10**9):
        delay = policy.delay(attempt)
        assert delay is not None
        assert 0 <= delay <= policy.cap
    assert ReconnectPolicy(jitter=False).delay(10**6) == 30.0
    assert ReconnectPolicy(initial=0, jitter=False).delay(10**6) == 0
    assert ReconnectPolicy(factor=1, initial=2, jitter=False).delay(10**6) == 2


async def test_the_client_keeps_reconnecting_after_two_thousand_failed_attempts() -> None:
    """delay(1025) raised OverflowError: the supervisor died, the client sat in
    RECONNECTING forever with no error and never reconnected."""
    server = FakeMotiaServer()
    server.fail_next(10**9)  # nothing listens
    tiny = ReconnectPolicy(initial=0.0001, cap=0.0001, jitter=False)
    client = AsyncStreamClient(server.url, transport=server.transport, reconnect=tiny)
    attempts: list[int] = []
    client.on_state_change(lambda change: attempts.append(change.attempt))
    try:
        await client.connect(wait=False)
        await wait_until(lambda: max(attempts, default=0) > 2_000, timeout=45, what="2,000 tries")
        assert client.state is ConnectionState.RECONNECTING
        assert client.error is None
        server.fail_next(0)  # the server is back
        await wait_until(lambda: client.is_connected, timeout=5, what="reconnected")
    finally:
        await client.close()


class _BrokenTransport:
    """A transport with a bug: it raises something no transport should raise."""

    def __init__(self) -> None:
        self.closed = False

    async def send(self, text: str) -> None:
        pass

    async def recv(self) -> str | bytes:
        raise RuntimeError("a bug in the transport")

    async def close(self) -> None:
        self.closed = True


async def test_an_unexpected_error_in_the_supervisor_fails_the_client_visibly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def factory(request: Any) -> _BrokenTransport:
        return _BrokenTransport()

    client = AsyncStreamClient("ws://127.0.0.1:1/", transport=factory)
    changes: list[StateChange] = []
    client.on_state_change(changes.append)
    sub = client.subscribe_group("todo", "inbox")
    errors: list[MotiaError] = []
    sub.on_error(errors.append)
    with caplog.at_level(logging.ERROR, logger="motia_client"):
        await client.connect(wait=False)
        await wait_until(lambda: client.state is ConnectionState.FAILED, what="FAILED")
    try:
        assert client.error is not None
        assert "a bug in the transport" in str(client.error)
        assert isinstance(client.error.__cause__, RuntimeError)
        assert errors == [client.error]
        assert sub.error is client.error
        assert changes[-1].state is ConnectionState.FAILED
        assert any("RuntimeError" in (r.exc_text or "") for r in caplog.records)
    finally:
        await client.close()


# -- 2. no reconnect storm, and one bad room does not starve the others -------------------


async def _close_each_connection(server: FakeMotiaServer, code: int) -> None:
    """Accept every connection, then close it with ``code`` at once (until cancelled)."""
    for count in itertools.count(1):
        conn = await server.wait_for_connections(count, timeout=30)
        await conn.disconnect(code)


@pytest.mark.parametrize("code", [1008, 1009])
async def test_a_server_that_drops_every_connection_gets_backed_off(code: int) -> None:
    """The attempt counter was reset by each upgrade: ~4 reconnects/s forever."""
    policy = ReconnectPolicy(initial=0.05, factor=2.0, cap=5.0, jitter=False)
    server = FakeMotiaServer()
    closer = asyncio.ensure_future(_close_each_connection(server, code))
    client = AsyncStreamClient(server.url, transport=server.transport, reconnect=policy)
    try:
        await client.connect(wait=False)
        start = time.monotonic()
        await asyncio.sleep(2.0)
        handshakes = len(server.attempts)
    finally:
        await client.close()
        closer.cancel()
        await asyncio.gather(closer, return_exceptions=True)
    assert all(c.close_code == code for c in server.connections)
    # 0.05 + 0.1 + 0.2 + 0.4 + 0.8: six connections at most in two seconds.
    assert 3 <= handshakes <= 7, f"{handshakes} connections in {time.monotonic() - start:.1f} s"


@pytest.mark.parametrize("code", [1008, 1009])
async def test_a_room_whose_join_kills_the_connection_is_refused_and_the_others_work(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    policy = ReconnectPolicy(initial=0.02, factor=2.0, cap=0.2)
    server = FakeMotiaServer()
    server.close_on_join("todo", "poison", code)
    async with AsyncStreamClient(
        server.url, transport=server.transport, reconnect=policy
    ) as client:
        server.seed("todo", "inbox", todo("a"))
        good = client.subscribe_group("todo", "inbox")
        bad = client.subscribe_group("todo", "poison")
        errors: list[MotiaError] = []
        bad.on_error(errors.append)
        with caplog.at_level(logging.INFO, logger="motia_client"):
            await wait_until(lambda: bad.error is not None, timeout=10, what="bad room refused")
        assert errors == [bad.error]
        text = str(bad.error)
        assert "todo/poison" in text
        assert str(code) in text
        if code == 1009:
            assert "server" in text
            assert "max_size" not in text  # the client's limit was not the one hit
            assert all("max_size" not in r.getMessage() for r in caplog.records)
        # The good room keeps following the server, on a connection that now stays up.
        await server.set("todo", "inbox", todo("b"))
        await good.wait_for(lambda items: [i["id"] for i in items] == ["a", "b"], timeout=5)
        connections = len(server.connections)
        await asyncio.sleep(0.5)
        assert len(server.connections) == connections
        assert not good.error


async def test_a_sync_over_the_clients_max_size_is_reported_on_its_room() -> None:
    server = FakeMotiaServer()  # it enforces the client's max_size as the real transport does
    server.seed("todo", "inbox", todo("a"))
    server.seed("todo", "huge", *[todo(f"t{i}", pad="x" * 200) for i in range(200)])
    policy = ReconnectPolicy(initial=0.02, factor=2.0, cap=0.2)
    async with AsyncStreamClient(
        server.url, transport=server.transport, reconnect=policy, max_size=20_000
    ) as client:
        good = client.subscribe_group("todo", "inbox")
        huge = client.subscribe_group("todo", "huge")
        await wait_until(lambda: huge.error is not None, timeout=10, what="huge room refused")
        text = str(huge.error)
        assert "todo/huge" in text
        assert "max_size" in text  # the client's own limit: raising it helps
        await server.set("todo", "inbox", todo("b"))
        await good.wait_for(lambda items: len(items) == 2, timeout=5)


# -- 3. silence is not a delete -----------------------------------------------------------


async def test_items_behind_a_slow_access_check_are_pending_never_deleted() -> None:
    """An item join unanswered for 2 s was settled as "no such item": with a 0.8 s access
    check per join, items 3-5 flipped to None (synced) and back on every connect."""
    server = FakeMotiaServer()
    ids = [f"t{i}" for i in range(5)]
    server.seed("todo", "inbox", *[todo(i) for i in ids])
    server.delay_joins(0.8)  # the access check, one join at a time

    async with AsyncStreamClient(server.url, transport=server.transport) as client:
        seen: dict[str, list[Any]] = {i: [] for i in ids}
        subs = []
        for item_id in ids:
            sub = client.subscribe_item("todo", "inbox", item_id)
            sub.add_change_listener(seen[item_id].append)
            subs.append(sub)
        await asyncio.sleep(2.5)  # past the old 2 s settle: t3 and t4 are unanswered
        for sub in subs[3:]:
            assert not sub.synced
            assert sub.state is None
        conn = server.connections[0]
        await server.wait_until(lambda: conn.pending == 0, timeout=10, what="all answered")
        assert [sub.state["id"] for sub in subs] == ids  # type: ignore[index]
        assert all(sub.synced for sub in subs)
        for item_id in ids:
            assert None not in seen[item_id], f"{item_id} was reported deleted"
            assert len(seen[item_id]) == 1


@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_an_item_deleted_while_away_is_pending_on_motia_and_none_on_iii(
    dialect: str,
) -> None:
    """After a reconnect an item is pending (not synced) until its rejoin is answered; 0.x
    never answers for a deleted item, so it stays pending with its last value: silence is
    not a delete. iii answers with a null sync: None, synced."""
    server = FakeMotiaServer(dialect=dialect)  # type: ignore[arg-type]
    server.seed("todo", "inbox", todo("t1"))
    async with AsyncStreamClient(
        server.url, transport=server.transport, reconnect=ReconnectPolicy(initial=0.01, cap=0.05)
    ) as client:
        item = client.subscribe_item("todo", "inbox", "t1")
        await item.wait_for(lambda value: value is not None, timeout=5)
        seen: list[Any] = []
        item.add_change_listener(seen.append)
        server.seed("todo", "inbox", replace=True)  # deleted on the server, nobody told
        await server.drop()
        await wait_until(lambda: len(server.connections) == 2 and client.is_connected)
        if dialect == "iii":
            await item.wait_for(lambda value: value is None, timeout=5)
            assert item.synced
        else:
            await asyncio.sleep(0.3)  # the rejoin went out; no answer comes
            assert not item.synced  # pending
            assert item.state == todo("t1")  # its last value, not a made-up delete
            assert None not in seen
            await server.set("todo", "inbox", todo("t1", back=True))
            await item.wait_for(lambda value: value is not None and value.get("back"), 5)
            assert item.synced


# -- 4. deleted ids do not pile up -----------------------------------------------------------


async def test_a_queue_like_group_runs_in_flat_memory() -> None:
    """1M created-and-deleted ids left 1,000,001 tombstones (+153 MB)."""
    link = FakeMotiaServer(answer_joins=False)  # exact frames, from timestamp 1 on
    async with AsyncStreamClient(link.url, transport=link.transport) as client:
        sub = client.subscribe_group("jobs", "q")
        await link.send_raw(envelope("jobs", "q", None, {"type": "sync", "data": []}, 1))
        stamp = 2

        async def cycles(count: int) -> None:
            nonlocal stamp
            frames: list[Any] = []
            for n in range(count):
                job = {"id": f"job-{stamp}", "n": n}
                frames.append(
                    envelope("jobs", "q", job["id"], {"type": "create", "data": job}, stamp)
                )
                frames.append(
                    envelope("jobs", "q", job["id"], {"type": "delete", "data": job}, stamp)
                )
                stamp += 1
                if len(frames) >= 1_000:
                    await link.send_raw(*frames)  # applied when send_raw returns
                    frames.clear()
            await link.send_raw(*frames)

        await cycles(2_000)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            await cycles(40_000)
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert len(sub.state) == 0
        # 40,000 remembered ids would take several MB; a bounded memory takes none.
        assert grown < 1_500_000, f"memory grew by {grown:,} bytes over 40,000 deleted ids"


# -- 5. timestamps outside a sane window are malformed frames ----------------------------------


@pytest.mark.parametrize("poison", [2**64, 1e29, -5, 10**15 * 100])
async def test_a_far_future_timestamp_cannot_make_later_frames_stale(
    poison: Any, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time() * 1000)
    link = FakeMotiaServer(answer_joins=False)
    async with AsyncStreamClient(link.url, transport=link.transport) as client:
        sub = client.subscribe_item("todo", "inbox", "a")
        await link.send_raw(
            envelope("todo", "inbox", "a", {"type": "sync", "data": todo("a", v=0)}, now)
        )
        await sub.wait_for(lambda item: item is not None, timeout=5)
        with caplog.at_level(logging.WARNING, logger="motia_client"):
            bad = envelope("todo", "inbox", "a", {"type": "update", "data": todo("a", v=1)}, 0)
            await link.send_raw(
                json.dumps(bad).replace('"timestamp": 0', f'"timestamp": {poison!r}')
            )
            await link.send_raw(
                envelope("todo", "inbox", "a", {"type": "update", "data": todo("a", v=2)}, now + 1)
            )
            await sub.wait_for(lambda item: item is not None and item["v"] == 2, timeout=5)
        assert any("timestamp" in r.getMessage() for r in caplog.records)


async def test_a_stale_frame_after_a_connection_drop_is_still_dropped_within_one_connection() -> (
    None
):
    """The window does not weaken the stale-frame rule for ordinary timestamps."""
    now = int(time.time() * 1000)
    link = FakeMotiaServer(answer_joins=False)
    async with AsyncStreamClient(link.url, transport=link.transport) as client:
        sub = client.subscribe_item("todo", "inbox", "a")
        await link.send_raw(
            envelope("todo", "inbox", "a", {"type": "sync", "data": todo("a", v=0)}, now)
        )
        await link.send_raw(
            envelope("todo", "inbox", "a", {"type": "update", "data": todo("a", v=1)}, now + 5)
        )
        await link.send_raw(
            envelope("todo", "inbox", "a", {"type": "update", "data": todo("a", v=9)}, now + 4)
        )
        await link.send_raw(
            envelope("todo", "inbox", "a", {"type": "update", "data": todo("a", v=2)}, now + 5)
        )
        await sub.wait_for(lambda item: item is not None and item["v"] == 2, timeout=5)


class _ClockSession:
    """A session that, like the real one's clock, asks for its next timer each time one fires."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.fired = 0
        self._wanted = [Timer("clock", delay, 1)]
        self.wake: Any = None  # the supervisor's act, as the real session's wake callback

    @property
    def pending(self) -> bool:
        return bool(self._wanted)

    def data_to_send(self) -> list[str]:
        return []

    def timers_wanted(self) -> list[Timer]:
        wanted, self._wanted = self._wanted, []
        return wanted

    def take_token_refresh(self) -> bool:
        return False

    def timer_fired(self, timer: Timer, now_ms: int) -> None:
        self.fired += 1
        self._wanted.append(Timer("clock", self.delay, 1))
        self.wake()


async def test_a_long_connection_holds_only_its_armed_timers() -> None:
    """The clock timer re-arms every minute for as long as a connection lives: fired
    timers must be let go, or a connection open for weeks holds one handle per minute."""
    session = _ClockSession(0.001)
    supervisor = Supervisor(Config.build("ws://127.0.0.1:9/", {}), session, None)  # type: ignore[arg-type]
    session.wake = supervisor.act
    supervisor.act()
    await wait_until(lambda: session.fired >= 200, timeout=10)
    assert len(supervisor._timers) <= 1  # the one armed now
    supervisor._cancel_timers()
