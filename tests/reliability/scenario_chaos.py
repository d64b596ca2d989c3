"""Chaos: random writes on the stub while a proxy cuts the client's connection.

:func:`run_chaos` starts a stub (in this process), preloads a group, puts a
:class:`~tests.reliability.chaos.ChaosProxy` between it and one
:class:`~motia_client.AsyncStreamClient`, and applies seeded random operations
(``set``, update ops, ``delete``, custom events) to the group and to a few
individually watched items while the proxy cuts the connection at random
moments, delays bytes and splits them across reads. It then cuts one last time,
waits for the client to converge and compares every state with the server's.

The client holds a plain group subscription, a second subscription to the same
group sorted by a field (one shared server-side join), and one item
subscription per watched item. Custom events carry a sequence number: a
subscriber must never see one twice or out of order (events sent while
disconnected are lost, by design).
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from dataclasses import dataclass, field
from typing import Any

from motia_client import AsyncStreamClient, ReconnectPolicy
from motia_client._views import sort_rank
from server_stub import Room, StubServer
from tests.reliability.chaos import ChaosProxy, Faults

__all__ = ["ChaosResult", "run_chaos"]

STREAM = "chaos"
GROUP = "g"
OTHER_GROUP = "other"  # same item ids in another group: frames that must not cross over
FINAL_WRITES = 20  # written right after the last cut: only a resync can bring them


@dataclass
class ChaosResult:
    """What one chaos run did and found."""

    seed: int
    transport: str
    dialect: str
    operations: int = 0
    cuts: int = 0
    links: int = 0
    mid_frame_cuts: int = 0
    reconnects: int = 0
    events_sent: int = 0
    events_seen: int = 0  # by the group subscription (it hears every event)
    mismatches: int = 0
    pending_items: int = 0  # 0.x: watched items deleted while away, pending with their last value
    converge_seconds: float = 0.0  # from the last cut to equal states
    duration: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line of figures."""
        return (
            f"chaos seed={self.seed} transport={self.transport} dialect={self.dialect}: "
            f"{self.operations} ops, {self.cuts + self.mid_frame_cuts} cuts "
            f"({self.mid_frame_cuts} mid-frame), "
            f"{self.reconnects} reconnects, {self.events_seen}/{self.events_sent} events heard, "
            f"mismatches={self.mismatches}, pending items={self.pending_items}, "
            f"converged {self.converge_seconds:.2f} s after "
            f"the last cut, {self.duration:.1f} s"
        )


def _text(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + "é☃ ", k=rng.randint(0, 12)))


def _item(rng: random.Random, seq: int) -> dict[str, Any]:
    return {"n": rng.randint(-50, 50), "s": _text(rng), "c": rng.randint(0, 9), "seq": seq}


def _ops(rng: random.Random, seq: int) -> list[dict[str, Any]]:
    """A random, always-applicable list of update ops (paths keep their types)."""
    choices: list[dict[str, Any]] = [
        {"type": "set", "path": "n", "value": rng.randint(-50, 50)},
        {"type": "set", "path": "seq", "value": seq},
        {"type": "increment", "path": "c", "by": rng.randint(1, 3)},
        {"type": "decrement", "path": "c", "by": 1},
        {"type": "merge", "path": "meta", "value": {"k": rng.randint(0, 3)}},
        {"type": "set", "path": "meta.x", "value": _text(rng)},
        {"type": "remove", "path": "s"},
        {"type": "remove", "path": "meta.k"},
    ]
    return rng.sample(choices, rng.randint(1, 3))


class _EventLog:
    """The custom-event sequence numbers one subscriber saw, checked as they come."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.name = name
        self.problems = problems
        self.last = -1
        self.count = 0

    def __call__(self, data: Any) -> None:
        seq = data.get("seq") if isinstance(data, dict) else None
        if not isinstance(seq, int):
            self.problems.append(f"{self.name}: an event without a seq: {data!r:.80}")
        elif seq <= self.last:
            self.problems.append(f"{self.name}: event {seq} after {self.last} (dup or reorder)")
        else:
            self.last = seq
        self.count += 1


async def run_chaos(
    *,
    seed: int,
    transport: str = "websockets",
    dialect: str = "motia",
    operations: int = 10_000,
    items: int = 1_000,
    watched: int = 5,
    rate: float = 400.0,
    cut_every: tuple[float, float] = (0.2, 2.0),
    policy: ReconnectPolicy | None = None,
    converge_timeout: float = 20.0,
) -> ChaosResult:
    """Run one chaos scenario; the result's ``mismatches`` and ``problems`` must be empty."""
    rng = random.Random(seed)
    result = ChaosResult(seed, transport, dialect)
    started = time.perf_counter()
    ids = [f"item-{index}" for index in range(int(items * 1.1))]  # some ids come and go
    watched_ids = ids[:watched]
    faults = Faults(
        cut_every=cut_every,
        delay_probability=0.05,
        max_delay=0.01,
        split_probability=0.2,
        cut_mid_frame_probability=0.05,
    )
    async with StubServer(port=0, dialect=dialect, streams=[STREAM]) as stub:  # type: ignore[arg-type]
        store = stub.store
        for index in range(items):
            await store.set(STREAM, GROUP, ids[index], _item(rng, -1))
        for item_id in watched_ids:
            await store.set(STREAM, OTHER_GROUP, item_id, {"decoy": True})
        async with ChaosProxy(stub.port, seed=seed, faults=faults) as proxy:
            client = AsyncStreamClient(
                proxy.ws_url,
                transport=transport,  # type: ignore[arg-type]
                reconnect=policy or ReconnectPolicy(),
                open_timeout=5,
            )
            client.on_state_change(
                lambda change: setattr(
                    result, "reconnects", result.reconnects + (change.state.value == "open")
                )
            )
            await client.connect()
            try:
                group = client.subscribe_group(STREAM, GROUP)
                by_n = client.subscribe_group(STREAM, GROUP, sort_key="n")
                item_subs = {i: client.subscribe_item(STREAM, GROUP, i) for i in watched_ids}
                logs = [_EventLog("group", result.problems), _EventLog("sorted", result.problems)]
                group.on_event("tick", logs[0])
                by_n.on_event("tick", logs[1])
                for item_id, sub in item_subs.items():
                    log = _EventLog(f"item {item_id}", result.problems)
                    logs.append(log)
                    sub.on_event("tick", log)
                await group.wait_for(lambda state: len(state) == items, timeout=10)
                final = min(FINAL_WRITES, operations)
                await _drive(store, rng, ids, watched_ids, operations - final, rate, result)
                await proxy.stop_cutting()
                proxy.cut()  # the last cut; the last writes land while the client is away
                last_cut = time.perf_counter()
                await _drive(store, rng, ids, watched_ids, final, 1e9, result)
                await _converge(store, group, by_n, item_subs, converge_timeout)
                result.converge_seconds = time.perf_counter() - last_cut
                result.mismatches = await _mismatches(store, group, by_n, item_subs, result)
                result.events_seen = logs[0].count
                await _check_one_subscription_per_room(stub, watched_ids, result)
            finally:
                await client.close()
            result.cuts = proxy.stats.links_cut  # cut events that found a connection
            result.links = proxy.stats.links
            result.mid_frame_cuts = proxy.stats.mid_frame_cuts
    result.reconnects -= 1  # the first open is not a reconnect
    result.duration = time.perf_counter() - started
    return result


async def _drive(
    store: Any,
    rng: random.Random,
    ids: list[str],
    watched_ids: list[str],
    operations: int,
    rate: float,
    result: ChaosResult,
) -> None:
    """Apply ``operations`` random writes and events at about ``rate`` per second."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    first = result.operations
    for seq in range(first, first + operations):
        ahead = start + (seq - first) / rate - loop.time()
        if ahead > 0:
            await asyncio.sleep(ahead)
        roll = rng.random()
        item_id = rng.choice(watched_ids) if rng.random() < 0.1 else rng.choice(ids)
        if roll < 0.35:
            await store.set(STREAM, GROUP, item_id, _item(rng, seq))
        elif roll < 0.65:
            await store.update(STREAM, GROUP, item_id, _ops(rng, seq))
        elif roll < 0.80:
            await store.delete(STREAM, GROUP, item_id)
        elif roll < 0.95:
            target = rng.choice(watched_ids) if rng.random() < 0.5 else None
            await store.send_event(STREAM, GROUP, "tick", {"seq": seq}, item_id=target)
            result.events_sent += 1
        else:  # the same id in another group: must never reach this group's state
            await store.set(STREAM, OTHER_GROUP, item_id, {"decoy": seq})
        result.operations += 1


def _states_equal(
    server_items: list[dict[str, Any]],
    server_watched: dict[str, Any],
    group: Any,
    by_n: Any,
    item_subs: dict[str, Any],
) -> bool:
    if list(group.state) != server_items:
        return False
    if dict(by_n.items_by_id) != {item["id"]: item for item in server_items}:
        return False
    return all(_item_equal(sub, server_watched[i]) for i, sub in item_subs.items())


def _item_equal(sub: Any, truth: Any) -> bool:
    """The item as the server has it; or deleted meanwhile, and pending (0.x: no answer)."""
    return bool(sub.state == truth or (truth is None and not sub.synced))


async def _server_view(store: Any, watched: list[str]) -> tuple[list[Any], dict[str, Any]]:
    items = await store.list_group(STREAM, GROUP)
    return items, {i: await store.get(STREAM, GROUP, i) for i in watched}


async def _converge(
    store: Any, group: Any, by_n: Any, item_subs: dict[str, Any], timeout: float
) -> None:
    """Wait (at most ``timeout`` seconds) until every client state equals the server's."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    server_items, server_watched = await _server_view(store, list(item_subs))
    while loop.time() < deadline:
        if _states_equal(server_items, server_watched, group, by_n, item_subs):
            return
        await asyncio.sleep(0.01)


async def _mismatches(
    store: Any, group: Any, by_n: Any, item_subs: dict[str, Any], result: ChaosResult
) -> int:
    """Count the items (and orderings) on which the client and the server disagree."""
    server_items, server_watched = await _server_view(store, list(item_subs))
    server = {item["id"]: item for item in server_items}
    mine = dict(group.items_by_id)
    wrong = {key for key in server.keys() | mine.keys() if server.get(key) != mine.get(key)}
    if wrong:
        result.problems.append(f"group items differ: {sorted(wrong)[:5]}")
    count = len(wrong)
    if not wrong and [item["id"] for item in group.state] != list(server):
        result.problems.append("group order differs from the server's")
        count += 1
    sorted_mine = dict(by_n.items_by_id)
    if sorted_mine != server:
        result.problems.append("the sorted subscription differs from the server")
        keys = server.keys() | sorted_mine.keys()
        count += len({k for k in keys if server.get(k) != sorted_mine.get(k)})
    ranks = [sort_rank(item.get("n")) for item in by_n.state]
    if ranks != sorted(ranks):
        result.problems.append("the sorted subscription is out of order")
        count += 1
    for item_id, sub in item_subs.items():
        if sub.state != server_watched[item_id]:
            if server_watched[item_id] is None and not sub.synced:
                # Motia 0.x answers the rejoin of a deleted item with nothing: the item
                # is pending (not synced) with its last value, never made up as deleted.
                result.pending_items += 1
                continue
            result.problems.append(f"watched item {item_id} differs")
            count += 1
    return count


async def _check_one_subscription_per_room(
    stub: StubServer, watched_ids: list[str], result: ChaosResult
) -> None:
    """After every reconnect the server holds exactly one subscription per room."""
    await asyncio.sleep(0.05)  # the server cleans up a cut socket when it notices the cut
    store: Any = stub.store
    rooms = [Room(STREAM, GROUP), *(Room(STREAM, GROUP, i) for i in watched_ids)]
    counts = [store.subscriber_count(room) for room in rooms]
    if counts != [1] * len(rooms) or stub.connection_count != 1:
        result.problems.append(
            f"server subscriptions per room {counts}, sockets {stub.connection_count}"
        )
