"""Cross-instance delivery through Redis vs one in-memory stub: ``python -m benchmarks.fleet``.

Three setups in one run, each a real ``motia-stub`` process (two for the fleet) and
one :class:`~motia_client.AsyncStreamClient` listener in this process:

- ``memory``: one instance, the in-memory store; writes and the listener on it;
- ``redis, same instance``: two instances on one ``redis-server``; writes and the
  listener on A (every frame still goes through Redis pub/sub);
- ``redis, A -> B``: writes through A's HTTP steps, the listener on B.

Measured per setup, with the same HTTP writes (``POST /todo``) in each:

- **latency**: paced creates, one at a time (after 20 unrecorded ones); from just
  before the request to the listener's change feed reporting the new todo (p50, p99);
- **throughput**: ``--writes`` creates from ``--concurrency`` concurrent writers;
  creates per second from the first request to the listener holding them all.

The table ends with the Redis setups' ratios to ``memory``. A benchmark, never a
timed test: nothing here runs in ``make test``. Needs ``redis-server`` and the
``redis`` extra (``make install`` has both).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from motia_client import AsyncStreamClient, ItemChange
from tests.fleet.redis_process import RedisProcess, redis_missing
from tests.reliability.stub_process import StubProcess

WARM_UP = 20  # paced creates before each latency run, not recorded


@dataclass
class Figures:
    """One setup's results."""

    name: str
    latencies_ms: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0


class Listener:
    """A client following one todo group; records when each todo id was first added."""

    def __init__(self, url: str, group: str) -> None:
        self.client = AsyncStreamClient(url)
        self.group = group
        self.added: dict[str, float] = {}
        self.arrived = asyncio.Event()

    async def start(self) -> None:
        await self.client.connect()
        sub = self.client.subscribe_group("todo", self.group)
        sub.on_item_change(self._on_change)
        await sub.wait_for(lambda _: True, timeout=10)

    def _on_change(self, change: ItemChange[Any]) -> None:
        if change.kind == "added" and change.id not in self.added:
            self.added[change.id] = time.perf_counter()
            self.arrived.set()

    async def wait_for(self, ids: list[str], timeout: float) -> None:
        """Until every id in ``ids`` was added (TimeoutError after ``timeout`` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(todo_id in self.added for todo_id in ids):
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), max(0.0, deadline - loop.time()))

    async def close(self) -> None:
        await self.client.close()


async def _latency(http: httpx.AsyncClient, listener: Listener, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        listener.arrived.clear()
        began = time.perf_counter()
        answer = await http.post(
            "/todo", params={"groupId": listener.group}, json={"description": "latency"}
        )
        todo_id = answer.json()["id"]
        await listener.wait_for([todo_id], 10)
        samples.append((listener.added[todo_id] - began) * 1000)
        await asyncio.sleep(0.002)
    return samples


async def _throughput(
    http: httpx.AsyncClient, listener: Listener, writes: int, concurrency: int
) -> float:
    ids: list[str] = []
    remaining = writes

    async def writer() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            answer = await http.post(
                "/todo", params={"groupId": listener.group}, json={"description": "tput"}
            )
            ids.append(answer.json()["id"])

    began = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    await listener.wait_for(ids, 60)
    last = max(listener.added[todo_id] for todo_id in ids)
    return writes / (last - began)


async def _measure(
    name: str, write_url: str, listen_url: str, args: argparse.Namespace, figures: Figures
) -> None:
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=write_url, timeout=30, limits=limits) as http:
        for rep in range(args.reps):
            listener = Listener(listen_url, f"lat-{name[:1]}-{rep}-{time.time_ns()}")
            await listener.start()
            try:
                await _latency(http, listener, WARM_UP)  # connections, imports, caches
                figures.latencies_ms += await _latency(http, listener, args.latency_writes)
            finally:
                await listener.close()
            listener = Listener(listen_url, f"tput-{name[:1]}-{rep}-{time.time_ns()}")
            await listener.start()
            try:
                figures.rates.append(
                    await _throughput(http, listener, args.writes, args.concurrency)
                )
            finally:
                await listener.close()
    print(
        f"  {name}: p50 {figures.quantile(0.5):.2f} ms, p99 {figures.quantile(0.99):.2f} ms, "
        f"{figures.rate:.0f} creates/s delivered",
        flush=True,
    )


async def run(args: argparse.Namespace) -> list[Figures]:
    """All three setups, one after the other, on fresh processes."""
    results = []
    memory = StubProcess()
    await memory.start(("--max-group-items", "1000000"))
    try:
        figures = Figures("memory (1 instance)")
        await _measure(figures.name, memory.http_url, memory.ws_url, args, figures)
        results.append(figures)
    finally:
        await memory.kill()
    async with RedisProcess() as redis_server:
        extra = ("--store", redis_server.url, "--max-group-items", "1000000")
        a, b = StubProcess(), StubProcess()
        await a.start(extra)
        await b.start(extra)
        try:
            same = Figures("redis, same instance")
            await _measure(same.name, a.http_url, a.ws_url, args, same)
            cross = Figures("redis, A -> B")
            await _measure(cross.name, a.http_url, b.ws_url, args, cross)
            results += [same, cross]
        finally:
            await a.kill()
            await b.kill()
    return results


def report(results: list[Figures]) -> str:
    """The markdown table, then the ratios to the in-memory instance."""
    base = results[0]
    lines = [
        "| setup | p50 ms | p99 ms | creates/s delivered |",
        "| --- | ---: | ---: | ---: |",
    ]
    for fig in results:
        p50, p99 = fig.quantile(0.5), fig.quantile(0.99)
        lines.append(f"| {fig.name} | {p50:.2f} | {p99:.2f} | {fig.rate:.0f} |")
    for fig in results[1:]:
        lines.append(
            f"| ratio {fig.name} / memory | {fig.quantile(0.5) / base.quantile(0.5):.2f}x | "
            f"{fig.quantile(0.99) / base.quantile(0.99):.2f}x | {fig.rate / base.rate:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__)
    parser.add_argument("--writes", type=int, default=2000, help="creates per throughput run")
    parser.add_argument("--latency-writes", type=int, default=300, help="paced creates per run")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent writers")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per setup")
    parser.add_argument("--quick", action="store_true", help="a smoke run (1 rep, small)")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.writes, args.latency_writes = 1, 300, 50
    missing = redis_missing()
    if missing is not None:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    print(
        f"fleet delivery: {args.reps} reps, {args.latency_writes} paced and {args.writes} "
        f"concurrent ({args.concurrency}) creates per rep; load average {load:.2f} on "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    results = asyncio.run(run(args))
    print(report(results))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
