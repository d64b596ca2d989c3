"""Resync and memory of a large group (issue 8): ``python -m benchmarks.resync``.

- Resync: the time to apply one group sync frame of N items (the frame a client
  receives after a reconnect) through ``Session.receive``: decode, key, build the
  order with the sort key, replace the state. Measured with the items in the
  server's order (Motia sorts the sync by creation) and shuffled (the sort's
  worst case), median of several runs, CPU time. Also over a group that
  already holds the items (the real resync after a reconnect): with one item
  changed (the old state is compared, replaced and freed inside the measured
  time) and identical (compared, nobody notified).
- Memory: what the group holds (reducer, view and sort index) measured with
  tracemalloc, against the same items held as decoded dicts (``orjson.loads``
  of the same frame). Target: at most 1.5x.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import tracemalloc
from typing import Any

from motia_client._protocol import loads
from motia_client._session import Session
from motia_client._sink import Sink


def sync_frame(n: int, shuffled: bool, seed: int = 1) -> bytes:
    """A group sync of ``n`` todo-sized items (about 150 bytes each)."""
    items = [
        {
            "id": f"todo-{i:07d}",
            "description": f"write the report, part {i}",
            "createdAt": f"2026-11-21T10:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}"
            f".{i % 1000:03d}Z",
            "_createdAt": 1763719200000 + i,
        }
        for i in range(n)
    ]
    if shuffled:
        random.Random(seed).shuffle(items)
    frame = {
        "timestamp": 1,
        "streamName": "todo",
        "groupId": "inbox",
        "event": {"type": "sync", "data": items},
    }
    return json.dumps(frame).encode()


_FRAMES: dict[int, bytes] = {}


def sync_frame_cache(n: int) -> bytes:
    """The server-order sync of ``n`` items, built once."""
    if n not in _FRAMES:
        _FRAMES[n] = sync_frame(n, shuffled=False)
    return _FRAMES[n]


def _spawn(awaitable: Any, what: str) -> None:
    raise AssertionError("no coroutine listener here")


def apply_once(raw: bytes, sort_key: str | None, held: bytes | None = None) -> tuple[float, Sink]:
    """Apply one sync to a fresh session (that first applied ``held``, untimed).

    Return the CPU seconds it took and the subscriber (its view holds the group).
    """
    session = Session()
    sink = Sink(_spawn, "sub")
    sink.view = session.subscribe(sink, "todo", "inbox", sort_key=sort_key)
    session.connect()
    session.connection_made(1_763_750_000_000)
    if held is not None:
        session.receive(held)
    gc.collect()
    start = time.process_time()
    session.receive(raw)
    elapsed = time.process_time() - start
    return elapsed, sink


def resync_ms(
    raw: bytes, sort_key: str | None, runs: int, held: bytes | None = None
) -> tuple[float, float, float]:
    """Median, min and max milliseconds to apply ``raw`` (ordered items read once)."""
    times = []
    for _ in range(runs):
        elapsed, sink = apply_once(raw, sort_key, held)
        view = sink.view
        assert view is not None
        start = time.process_time()
        items = view.snapshot()
        len(items[:])  # build the ordered items, as a listener reading them would
        times.append((elapsed + time.process_time() - start) * 1000)
    return statistics.median(times), min(times), max(times)


def held_bytes(make: Any) -> tuple[int, Any]:
    """Bytes still allocated by what ``make()`` returns (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = make()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.resync", description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    n = args.n
    print(f"group of {n:,} items")
    floor = []
    for _ in range(args.runs):
        start = time.process_time()
        loads(sync_frame_cache(n))
        floor.append((time.process_time() - start) * 1000)
    print(f"  decoding the frame alone (orjson.loads): {statistics.median(floor):.1f} ms")
    for shuffled in (False, True):
        raw = sync_frame(n, shuffled)
        order = "shuffled" if shuffled else "server order"
        for sort_key in (None, "createdAt"):
            med, lo, hi = resync_ms(raw, sort_key, args.runs)
            ok = "met" if med <= 50 else "MISSED"
            print(
                f"  resync, {order:12}, sort={sort_key or '-':9}: {med:6.1f} ms "
                f"(min {lo:.1f}, max {hi:.1f}; {len(raw) / 1e6:.1f} MB frame; "
                f"target <= 50 ms: {ok})"
            )
    raw = sync_frame(n, shuffled=False)
    changed = raw.replace(b'part 1"', b'part 1 (edited)"', 1)  # one item differs
    for label, frame in (("1 item changed", changed), ("identical", raw)):
        for sort_key in (None, "createdAt"):
            med, lo, hi = resync_ms(frame, sort_key, args.runs, held=raw)
            ok = "met" if med <= 50 else "MISSED"
            print(
                f"  resync over the held group, {label:14}, sort={sort_key or '-':9}: "
                f"{med:6.1f} ms (min {lo:.1f}, max {hi:.1f}; target <= 50 ms: {ok})"
            )
    dicts, _ = held_bytes(lambda: loads(raw)["event"]["data"])
    for sort_key in (None, "createdAt"):
        ours, _ = held_bytes(lambda sk=sort_key: apply_once(raw, sk)[1])
        ratio = ours / dicts
        ok = "met" if ratio <= 1.5 else "MISSED"
        print(
            f"  memory, sort={sort_key or '-':9}: {ours / 1e6:.1f} MB vs {dicts / 1e6:.1f} MB "
            f"as decoded dicts = {ratio:.2f}x (target <= 1.5x: {ok})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
