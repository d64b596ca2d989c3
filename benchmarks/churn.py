"""Churn (issue 20, item 4): a queue-like group that creates and deletes ids for days.

``python -m benchmarks.churn`` feeds one group subscription 1,000,000 create/delete
cycles (each id created, then deleted: the group holds one item at most) through the
session's receive, and compares the process's resident memory after 1,000 cycles and
after 1,000,000. Target: within 1.5x. Before the tombstones were bounded, every
deleted id stayed (1,000,001 tombstones, +153 MB).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from typing import Any

from motia_client._session import Session
from motia_client._sink import Sink

NOW_MS = int(time.time() * 1000)


def rss_mb() -> float:
    """The resident set size now (Linux /proc), in MB."""
    with open(f"/proc/{os.getpid()}/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _spawn(awaitable: Any, what: str) -> None:
    raise AssertionError("no coroutine listener here")


def frames(start: int, count: int) -> list[bytes]:
    """``count`` create/delete pairs of new ids, stamped one ms apart."""
    out = []
    for n in range(start, start + count):
        job = {"id": f"job-{n}", "payload": "x" * 40}
        for kind, data in (("create", job), ("delete", job)):
            envelope = {
                "timestamp": NOW_MS + n,
                "streamName": "jobs",
                "groupId": "queue",
                "id": job["id"],
                "event": {"type": kind, "data": data},
            }
            out.append(json.dumps(envelope).encode())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.churn", description=__doc__)
    parser.add_argument("--cycles", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    args = parser.parse_args(argv)
    session = Session()
    sink = Sink(_spawn, "churn")
    sink.view = session.subscribe(sink, "jobs", "queue")
    session.connect()
    session.connection_made(NOW_MS)
    session.receive(
        json.dumps(
            {
                "timestamp": NOW_MS,
                "streamName": "jobs",
                "groupId": "queue",
                "event": {"type": "sync", "data": []},
            }
        ).encode()
    )
    done = 0
    first = 1_000
    for raw in frames(0, first):
        session.receive(raw)
    done = first
    gc.collect()
    small = rss_mb()
    started = time.perf_counter()
    while done < args.cycles:
        count = min(args.batch, args.cycles - done)
        for raw in frames(done, count):
            session.receive(raw)
        done += count
    gc.collect()
    large = rss_mb()
    held = len(sink.view.state.items) if sink.view is not None else -1
    print(
        f"{done:,} create/delete cycles in {time.perf_counter() - started:.1f} s; "
        f"items held at the end: {held}"
    )
    met = large <= 1.5 * small
    print(
        f"RSS after {first:,} cycles: {small:.1f} MB; after {done:,}: {large:.1f} MB; "
        f"ratio {large / small:.2f}x (target <= 1.5x: {'met' if met else 'MISSED'})"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
