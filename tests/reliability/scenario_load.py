"""Load: many sockets on one stub process, a steady stream of updates, every client converges.

:func:`run_load` starts ``motia-stub`` as a subprocess, creates ``items`` todos,
opens ``sockets`` :class:`~motia_client.AsyncStreamClient` (one socket each, in
this process) subscribed to the todo inbox, then completes todos through the
HTTP step ``POST /todo/{id}/complete`` at ``rate`` per second for ``duration``
seconds, round robin over the todos (every complete is an ``update`` frame to
every socket).

Delivery latency is measured per update and per client: from just before the
HTTP request to the moment the client's change listener sees the new value
(the listener knows the round-robin schedule, so finding the update it waits
for is O(1)). For hundreds of sockets most clients live in worker processes
(``load_worker``) and latency is measured on probe clients in this process: one
Python process cannot decode 25,000 frames a second, and would measure itself.
The stub's peak memory (VmHWM) and CPU (per second, from
/proc/<pid>/stat) are sampled while it runs. At the end every client must hold
exactly the todos the server last answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from motia_client import AsyncStreamClient, ConnectionState, ReconnectPolicy
from tests.reliability.stub_process import StubProcess

__all__ = ["LoadResult", "run_load"]

CONNECT_BATCH = 50  # concurrent handshakes (the stub listens with a backlog of 128)


@dataclass
class LoadResult:
    """What one load run measured."""

    sockets: int
    rate: float
    duration: float
    transport: str
    updates: int = 0
    deliveries: int = 0  # updates seen by a client listener (at most sockets x updates)
    converged: int = 0  # clients equal to the server at the end
    reconnects: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)
    peak_rss_mb: float = 0.0
    peak_cpu_percent: float = 0.0
    mean_cpu_percent: float = 0.0
    connect_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        """A latency percentile in milliseconds (0 when nothing was measured)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def summary(self) -> str:
        """One line of figures."""
        return (
            f"load transport={self.transport}: {self.sockets} sockets, {self.updates} updates "
            f"at {self.rate:g}/s for {self.duration:g} s, {self.deliveries} deliveries, "
            f"{self.converged}/{self.sockets} clients converged, {self.reconnects} reconnects; "
            f"latency p50 {self.percentile(0.5):.1f} ms, p99 {self.percentile(0.99):.1f} ms, "
            f"max {self.percentile(1.0):.1f} ms; stub peak RSS {self.peak_rss_mb:.0f} MB, "
            f"CPU peak {self.peak_cpu_percent:.0f}% mean {self.mean_cpu_percent:.0f}% of one core"
        )


class _Watcher:
    """One client's listener: records the latency of each scheduled update it sees."""

    def __init__(self, keys: list[str], sent: dict[int, float], result: LoadResult) -> None:
        self.keys = keys
        self.sent = sent
        self.result = result
        self.next = 0
        self.last: dict[str, Any] = {}
        self.group: Any = None

    def __call__(self, _items: Any) -> None:
        now = time.perf_counter()
        by_id = self.group.items_by_id
        keys = self.keys
        while self.next in self.sent:
            key = keys[self.next % len(keys)]
            item = by_id.get(key)
            value = item.get("completedAt") if item is not None else None
            if value is None or value == self.last.get(key):
                return
            self.last[key] = value
            self.result.latencies.append(now - self.sent[self.next])
            self.result.deliveries += 1
            self.next += 1


class _ProcessMeter:
    """Samples a process's CPU use (per second) and peak memory from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.samples: list[float] = []
        self.peak_rss_kb = 0

    def _cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime

    def _peak_rss(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    async def run(self) -> None:
        previous, at = self._cpu_seconds(), time.perf_counter()
        while True:
            await asyncio.sleep(1.0)
            cpu, now = self._cpu_seconds(), time.perf_counter()
            self.samples.append(100 * (cpu - previous) / (now - at))
            previous, at = cpu, now
            self.peak_rss_kb = max(self.peak_rss_kb, self._peak_rss())


async def run_load(
    *,
    sockets: int = 500,
    rate: float = 50.0,
    duration: float = 60.0,
    items: int = 100,
    transport: str = "auto",
    workers: int = 0,
    probes: int = 20,
    converge_timeout: float = 30.0,
) -> LoadResult:
    """Run the scenario; the result's ``problems`` must be empty.

    With ``workers``, all but ``probes`` clients live in that many worker
    processes (``load_worker``) and latency is measured on the ``probes``
    clients of this process; without, every client is here and measured.
    """
    result = LoadResult(sockets, rate, duration, transport)
    server = StubProcess()
    await server.start()
    clients: list[AsyncStreamClient] = []
    pool: list[asyncio.subprocess.Process] = []
    meter_task: asyncio.Task[None] | None = None
    local = probes if workers else sockets
    try:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
            keys = []
            todos: dict[str, Any] = {}
            for index in range(items):
                answer = await http.post("/todo", json={"description": f"load-{index}"})
                keys.append(answer.json()["id"])
                todos[keys[-1]] = answer.json()
            sent: dict[int, float] = {}
            watchers = []
            started = time.perf_counter()
            remote = sockets - local
            for index in range(workers):
                share = remote // workers + (index < remote % workers)
                pool.append(await _start_worker(server.ws_url, share, items, transport))
            for first in range(0, local, CONNECT_BATCH):
                batch = [
                    AsyncStreamClient(
                        server.ws_url,
                        transport=transport,  # type: ignore[arg-type]
                        reconnect=ReconnectPolicy(initial=0.2, cap=2.0),
                    )
                    for _ in range(min(CONNECT_BATCH, local - first))
                ]
                await asyncio.gather(*(client.connect() for client in batch))
                clients.extend(batch)
            for worker in pool:
                await _expect(worker, "READY")
            for client in clients:
                watcher = _Watcher(keys, sent, result)
                watcher.group = client.subscribe_group("todo", "inbox")
                watcher.group.add_change_listener(watcher)
                watchers.append(watcher)
                client.on_state_change(
                    lambda change: setattr(
                        result,
                        "reconnects",
                        result.reconnects + (change.previous is ConnectionState.RECONNECTING),
                    )
                )
            for watcher in watchers:
                await watcher.group.wait_for(lambda todos: len(todos) == items, timeout=60)
            result.connect_seconds = time.perf_counter() - started
            meter = _ProcessMeter(server.pid)
            meter_task = asyncio.get_running_loop().create_task(meter.run())
            final = {**todos, **await _drive(http, keys, sent, rate, duration, result)}
            await _wait_converged(watchers, final, converge_timeout, result)
            for worker in pool:
                assert worker.stdin is not None
                worker.stdin.write(f"CHECK {json.dumps(final)}\n".encode())
                words = (await _expect(worker, "CONVERGED")).split()
                result.converged += int(words[1])
                result.reconnects += int(words[3])
            meter_task.cancel()
            await asyncio.gather(meter_task, return_exceptions=True)
            result.peak_rss_mb = meter.peak_rss_kb / 1024
            if meter.samples:
                result.peak_cpu_percent = max(meter.samples)
                result.mean_cpu_percent = sum(meter.samples) / len(meter.samples)
    finally:
        if meter_task is not None:
            meter_task.cancel()
            await asyncio.gather(meter_task, return_exceptions=True)
        await asyncio.gather(*(client.close() for client in clients))
        await asyncio.gather(*(_stop_worker(worker) for worker in pool))
        await server.stop()
    if result.converged != sockets:
        result.problems.append(f"only {result.converged}/{sockets} clients converged")
    return result


async def _drive(
    http: httpx.AsyncClient,
    keys: list[str],
    sent: dict[int, float],
    rate: float,
    duration: float,
    result: LoadResult,
) -> dict[str, Any]:
    """Complete todos round robin at ``rate`` per second; return the last answer per todo."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    final: dict[str, Any] = {}
    total = int(rate * duration)
    pending: set[asyncio.Task[None]] = set()

    async def complete(seq: int) -> None:
        key = keys[seq % len(keys)]
        answer = await http.post(f"/todo/{key}/complete")
        answer.raise_for_status()
        todo = answer.json()["todo"]
        final[key] = todo  # each key is rewritten only every len(keys) / rate seconds

    for seq in range(total):
        ahead = start + seq / rate - loop.time()
        if ahead > 0:
            await asyncio.sleep(ahead)
        sent[seq] = time.perf_counter()
        task = loop.create_task(complete(seq))
        pending.add(task)
        task.add_done_callback(pending.discard)
        result.updates += 1
    await asyncio.gather(*pending)
    return final


async def _wait_converged(
    watchers: list[_Watcher], final: dict[str, Any], timeout: float, result: LoadResult
) -> None:
    def count() -> int:
        converged = 0
        for watcher in watchers:
            by_id = watcher.group.items_by_id
            if all(by_id.get(key) == todo for key, todo in final.items()):
                converged += 1
        return converged

    for _ in range(int(timeout / 0.1) + 1):
        converged = count()
        if converged == len(watchers):
            break
        await asyncio.sleep(0.1)
    result.converged += converged


async def _start_worker(
    url: str, clients: int, items: int, transport: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.reliability.load_worker",
        url,
        str(clients),
        str(items),
        transport,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


async def _expect(worker: asyncio.subprocess.Process, word: str, timeout: float = 120) -> str:
    """The worker's next line, which must start with ``word``."""
    assert worker.stdout is not None
    line = (await asyncio.wait_for(worker.stdout.readline(), timeout)).decode()
    if not line.startswith(word):
        raise RuntimeError(f"load worker {worker.pid}: expected {word}, got {line!r}")
    return line


async def _stop_worker(worker: asyncio.subprocess.Process) -> None:
    """QUIT, then SIGKILL by PID if it does not exit within 10 s."""
    if worker.returncode is None and worker.stdin is not None:
        with contextlib.suppress(ConnectionError):
            worker.stdin.write(b"QUIT\n")
            await worker.stdin.drain()
    try:
        await asyncio.wait_for(worker.wait(), 10)
    except asyncio.TimeoutError:
        os.kill(worker.pid, signal.SIGKILL)
        await worker.wait()
