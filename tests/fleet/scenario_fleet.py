"""The fleet scenario: stub processes on one Redis, clients failing over, faults, then the truth.

:func:`run_fleet` starts a ``redis-server`` and ``instances`` ``motia-stub --store
redis://...`` processes, and ``clients`` :class:`~motia_client.AsyncStreamClient`
each given every instance's URL, starting at a different one. Each client follows
two todo groups and the seeds' ``stats/todo/counters`` item. Then ``writes`` HTTP
writes (create 50 %, complete 30 %, delete 20 %) go to random live instances from
``concurrency`` workers while, spread over the run, an instance is SIGKILLed and
restarted on its port (``kills``) or some of an instance's stream sockets are cut
(``cuts``, ``POST /_admin/drop``). At the end every client must equal what Redis
holds, and no client may have applied a stale frame:

- a todo goes absent -> open -> completed -> deleted, never back (ids are never
  reused), checked per client on the change feed;
- ``stats.created`` (counted by the seeds' trigger, compare-and-set across
  instances) never decreases in any client's listener.

Measured: convergence after the last fault and after the last write, and the
write-to-listener latency of creates and deletes seen live (not by a resync) by
clients connected to another instance than the one written to.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from motia_client import AsyncStreamClient, ConnectionState, ItemChange, ReconnectPolicy
from server_stub.redis_store import DEFAULT_PREFIX, RedisStore
from tests.fleet.redis_process import RedisProcess
from tests.reliability.stub_process import StubProcess

__all__ = ["FleetResult", "run_fleet"]

ABSENT, OPEN, COMPLETED, DELETED = 0, 1, 2, 3
FAULTS_DEADLINE = 600.0  # the fault plan waits for the writes' progress at most this long
STATS = ("stats", "todo", "counters")


@dataclass
class FleetResult:
    """What one fleet run did and found."""

    instances: int
    clients: int
    writes: int = 0  # HTTP writes sent
    acked: int = 0  # answered 200
    not_found: int = 0  # a complete/delete of a todo another worker deleted first (404)
    failed: int = 0  # no answer: the instance was killed under the request (outcome unknown)
    kills: int = 0
    cuts: int = 0  # cut events
    sockets_cut: int = 0
    reconnects: int = 0
    failovers: int = 0  # a client reopened on another instance than before
    converge_after_last_fault: float = 0.0
    converge_after_last_write: float = 0.0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # cross-instance, live only
    mismatches: int = 0  # clients not equal to Redis at the deadline
    stale: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        """The ``q`` quantile of the cross-instance latencies (ms; 0 when none)."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        """One line of figures."""
        return (
            f"fleet: {self.instances} instances on one Redis, {self.clients} clients, "
            f"{self.writes} writes ({self.acked} acked, {self.not_found} 404, {self.failed} "
            f"lost with a killed instance), {self.kills} SIGKILL restarts, {self.cuts} cuts "
            f"({self.sockets_cut} sockets), {self.reconnects} reconnects, {self.failovers} "
            f"failovers, converged {self.converge_after_last_fault:.2f} s after the last "
            f"fault ({self.converge_after_last_write:.2f} s after the last write), "
            f"cross-instance write-to-listener p50 {self.percentile(0.5):.1f} ms p99 "
            f"{self.percentile(0.99):.1f} ms ({len(self.latencies_ms)} deliveries), "
            f"stale frames {len(self.stale)}, mismatches {self.mismatches}, "
            f"{self.seconds:.0f} s"
        )


def _phase(item: dict[str, Any] | None) -> int:
    if item is None:
        return ABSENT
    return COMPLETED if item.get("completedAt") else OPEN


@dataclass
class _Watcher:
    """One client: where it is connected, what it applied, what it saw live."""

    index: int
    client: AsyncStreamClient
    groups: tuple[str, ...]
    result: FleetResult
    instance: str | None = None
    subscriptions: dict[str, Any] = field(default_factory=dict)
    stats: Any = None
    phases: dict[tuple[str, str], int] = field(default_factory=dict)
    seen: list[tuple[str, str, float, str | None]] = field(default_factory=list)
    last_created: int = -1

    def on_state(self, change: Any) -> None:
        if change.state is ConnectionState.RECONNECTING:
            self.result.reconnects += 1
        elif change.state is ConnectionState.OPEN:
            if self.instance is not None and change.url != self.instance:
                self.result.failovers += 1
            self.instance = change.url

    def on_item(self, group: str, change: ItemChange[Any]) -> None:
        key = (group, change.id)
        before = self.phases.get(key, ABSENT)
        after = DELETED if change.kind == "removed" else _phase(change.new)
        if after < before:
            self.result.stale.append(
                f"client {self.index} {group}/{change.id}: phase {before} -> {after} "
                f"({change.kind}, resync={change.resync})"
            )
        self.phases[key] = max(before, after)
        if not change.resync:
            self.seen.append((change.kind, change.id, time.perf_counter(), self.instance))

    def on_stats(self, state: dict[str, Any] | None) -> None:
        created = int((state or {}).get("created", 0))
        if created < self.last_created:
            self.result.stale.append(
                f"client {self.index}: stats.created {self.last_created} -> {created}"
            )
        self.last_created = max(self.last_created, created)


async def run_fleet(
    *,
    instances: int = 3,
    clients: int = 20,
    writes: int = 500,
    kills: int = 2,
    cuts: int = 2,
    groups: int = 4,
    concurrency: int = 8,
    downtime: tuple[float, float] = (0.3, 1.0),
    seed: int = 0,
    converge_timeout: float = 30.0,
) -> FleetResult:
    """Run the scenario; the result's ``stale``, ``mismatches`` and ``problems`` must be empty."""
    rng = random.Random(seed)
    result = FleetResult(instances, clients)
    started = time.perf_counter()
    redis_server = RedisProcess()
    await redis_server.start()
    stubs: list[StubProcess] = []
    watchers: list[_Watcher] = []
    truth = RedisStore(redis_server.url, prefix=DEFAULT_PREFIX)
    try:
        extra = ("--store", redis_server.url)
        for _ in range(instances):
            stub = StubProcess()
            await stub.start(extra)
            stubs.append(stub)
        await truth.open()
        urls = [stub.ws_url for stub in stubs]
        names = [f"g{n}" for n in range(groups)]
        policy = ReconnectPolicy(initial=0.05, cap=0.5)
        for index in range(clients):
            start = index % instances
            client = AsyncStreamClient([*urls[start:], *urls[:start]], reconnect=policy)
            watched = (names[index % groups], names[(index + 1) % groups])
            watcher = _Watcher(index, client, watched, result)
            client.on_state_change(watcher.on_state)
            await client.connect()
            for group in watched:
                sub = client.subscribe_group("todo", group)
                sub.on_item_change(lambda change, g=group, w=watcher: w.on_item(g, change))
                watcher.subscriptions[group] = sub
            watcher.stats = client.subscribe_item(*STATS)
            watcher.stats.add_change_listener(watcher.on_stats)
            watchers.append(watcher)
        for watcher in watchers:
            for sub in watcher.subscriptions.values():
                await sub.wait_for(lambda _: True, timeout=10)

        up = set(range(instances))
        sent: dict[tuple[str, str], tuple[float, str]] = {}  # (kind, id) -> (time, instance ws url)
        known: dict[str, list[str]] = {name: [] for name in names}
        progress = 0
        last_fault = started
        https = [
            httpx.AsyncClient(base_url=stub.http_url, timeout=10, trust_env=False) for stub in stubs
        ]

        async def write_one(worker_rng: random.Random) -> None:
            nonlocal progress
            number = rng.randrange(len(stubs))
            while number not in up:
                number = rng.randrange(len(stubs))
            http, where = https[number], urls[number]
            group = worker_rng.choice(names)
            roll = worker_rng.random()
            ids = known[group]
            params = {"groupId": group}
            progress += 1
            result.writes += 1
            began = time.perf_counter()
            try:
                if roll < 0.5 or not ids:
                    answer = await http.post("/todo", params=params, json={"description": "d"})
                    if answer.status_code == 200:
                        todo_id = answer.json()["id"]
                        ids.append(todo_id)
                        sent[("added", todo_id)] = (began, where)
                elif roll < 0.8:
                    todo_id = worker_rng.choice(ids)
                    answer = await http.post(f"/todo/{todo_id}/complete", params=params)
                else:
                    todo_id = ids.pop(worker_rng.randrange(len(ids)))
                    sent[("removed", todo_id)] = (began, where)
                    answer = await http.delete(f"/todo/{todo_id}", params=params)
            except httpx.TransportError:
                result.failed += 1
                return
            if answer.status_code == 200:
                result.acked += 1
            elif answer.status_code == 404:
                result.not_found += 1
            else:
                result.problems.append(f"HTTP {answer.status_code}: {answer.text[:200]}")

        async def worker(number: int) -> None:
            worker_rng = random.Random(f"{seed}:{number}")
            while progress < writes:
                await write_one(worker_rng)

        async def faults() -> None:
            nonlocal last_fault
            plan = ["kill"] * kills + ["cut"] * cuts
            rng.shuffle(plan)
            marks = [
                int(writes * (0.1 + 0.7 * n / max(1, len(plan) - 1))) for n in range(len(plan))
            ]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + FAULTS_DEADLINE
            for kind, mark in zip(plan, marks, strict=True):
                while progress < mark and loop.time() < deadline:  # noqa: ASYNC110 - a counter
                    await asyncio.sleep(0.005)
                number = rng.choice(sorted(up))
                if kind == "kill":
                    up.discard(number)
                    await stubs[number].kill()
                    result.kills += 1
                    await asyncio.sleep(rng.uniform(*downtime))
                    stubs[number] = StubProcess(port=stubs[number].port)
                    await stubs[number].start(extra)
                    up.add(number)
                else:
                    answer = await https[number].post(
                        "/_admin/drop", params={"count": rng.randint(1, clients)}
                    )
                    result.cuts += 1
                    result.sockets_cut += answer.json()["dropped"]
                last_fault = time.perf_counter()

        try:
            await asyncio.gather(faults(), *(worker(n) for n in range(concurrency)))
            last_write = time.perf_counter()
            await _converge(watchers, truth, names, result, converge_timeout)
            done = time.perf_counter()
            result.converge_after_last_fault = done - last_fault
            result.converge_after_last_write = done - last_write
        finally:
            for http in https:
                await http.aclose()
        for watcher in watchers:
            for kind, todo_id, at, instance in watcher.seen:
                origin = sent.get((kind, todo_id))
                if origin is not None and instance is not None and instance != origin[1]:
                    result.latencies_ms.append((at - origin[0]) * 1000)
    finally:
        for watcher in watchers:
            await watcher.client.close()
        await truth.close()
        for stub in stubs:
            await stub.kill()
        await redis_server.stop()
    result.seconds = time.perf_counter() - started
    return result


async def _converge(
    watchers: list[_Watcher],
    truth: RedisStore,
    names: list[str],
    result: FleetResult,
    timeout: float,
) -> None:
    """Wait until every client equals Redis; count the clients that never did."""
    expected = {name: {t["id"]: t for t in await truth.list_group("todo", name)} for name in names}
    stats = await truth.get(*STATS)

    def equal(watcher: _Watcher) -> bool:
        return watcher.stats.state == stats and all(
            dict(watcher.subscriptions[group].items_by_id) == expected[group]
            for group in watcher.groups
        )

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not all(equal(watcher) for watcher in watchers):
        if loop.time() > deadline:
            behind = [watcher.index for watcher in watchers if not equal(watcher)]
            result.mismatches = len(behind)
            result.problems.append(f"clients {behind} did not equal Redis within {timeout} s")
            return
        await asyncio.sleep(0.05)
