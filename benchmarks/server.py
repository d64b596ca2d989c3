"""The benchmark WebSocket server: a sync, M pre-serialized updates, then ``bench-done``.

``python -m benchmarks.server [--port 0]`` prints ``READY <port>`` once listening on
127.0.0.1 and serves until SIGTERM/SIGINT, until its parent process exits, or for at
most ``--lifetime`` seconds.

It speaks the Motia 0.x dialect (PROTOCOL.md section 4: no top-level ``type``). A join's
group id names the workload (``benchmarks.workload``): a group join gets a sync of N
items, an item join (``id`` set) the item's sync; then the server writes M ``update``
frames and ends with ``{"type":"event","event":{"type":"bench-done","data":{"sent":M,
"server":{...}}}}``, where ``server`` says how long the server spent writing and how
long it waited on the client (a throughput run in which the server never waited was
limited by the server, not by the client: the harness warns about it).

It must never be the bottleneck, so the hot path skips ``websockets``' per-message
``send()``: every update is a complete, pre-built WebSocket frame (server frames are
not masked) whose only variable parts, the envelope ``timestamp`` (ms, 13 digits) and
the item's ``sentNs`` (ns, 19 digits), are spliced in with one bytes ``%`` format per
frame. The frames of one write share one ``time.time_ns()`` reading, taken just before
that write. Frames go straight to the connection's transport with the connection's
own flow control (``drain()``); the handshake, the sync and the final event go through
``websockets`` as usual. Building the frames happens on the join, before the sync, so
it is outside every runner's timed window; built workloads are cached for repetitions.

At a fixed rate (``r`` > 0) frames are paced on the event loop's timer (about 1 ms
ticks: at 10,000 frames/s about 10 frames per write, ``sentNs`` = that write's time,
the envelope ms = each frame's scheduled time), after a short settle pause (0.1 s + 30 us per
item) that lets a slow client finish applying a large sync first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from benchmarks.workload import DONE_EVENT, STREAM, Workload, indices, item_id, make_item

BATCH = 256  # frames per transport write when sending as fast as possible
WRITE_LIMIT = 256 * 1024  # transport high-water mark: keep the socket full, memory bounded
SETTLE_S = 0.1  # pause between the sync and a fixed-rate run ...
SETTLE_PER_ITEM_S = 30e-6  # ... plus this per item: time for a slow client to apply the sync
CACHE_ENTRIES = 3
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode


def _frame_header(length: int) -> bytes:
    """Header of an unmasked, final text frame (RFC 6455 section 5.2)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return bytes((0x81, 126)) + length.to_bytes(2, "big")
    return bytes((0x81, 127)) + length.to_bytes(8, "big")


@dataclass(frozen=True)
class Built:
    """A workload ready to send: only the two timestamps are filled in per frame."""

    sync_head: bytes  # the sync frame's text up to the timestamp digits
    sync_tail: bytes
    updates: list[bytes]  # whole frames, each a bytes template with %d for ms then ns
    envelope_head: bytes  # for the final custom event


def _escape(text: str) -> bytes:
    return text.replace("%", "%%").encode()


def build(workload: Workload, item: int | None) -> Built:
    group = _DUMPS(workload.group)
    room = f'"streamName":"{STREAM}","groupId":{group}'
    if item is None:
        data = _DUMPS([make_item(i) for i in range(workload.n)])
        envelope = room
        touched = indices(workload.n, workload.m, workload.seed)
    else:
        data = _DUMPS(make_item(item))
        envelope = f'{room},"id":{_DUMPS(item_id(item))}'
        touched = [item] * workload.m
    sync_tail = f',{envelope},"event":{{"type":"sync","data":{data}}}}}'

    # Per item: the update payload up to the seq digits, and its length once the
    # timestamps are in (13 + 19 digits for the two %d).
    heads: dict[int, str] = {}
    for i in sorted(set(touched)):
        body = _DUMPS(make_item(i))
        cut = body.index('"seq":') + len('"seq":')
        heads[i] = (
            f'{{"timestamp":%d,"streamName":"{STREAM}","groupId":{group},'
            f'"id":{_DUMPS(item_id(i))},"event":{{"type":"update","data":'
            + body[:cut].replace("%", "%%")
        )
    head_len = {i: len(h) - 2 + 13 for i, h in heads.items()}  # "%d": 13 ms digits
    tail = ',"sentNs":%d}}}'
    tail_len = len(tail) - 2 + 19
    updates: list[bytes] = []
    for k, i in enumerate(touched):
        seq = str(k)
        payload = heads[i] + seq + tail
        length = head_len[i] + len(seq) + tail_len
        updates.append(_frame_header(length).replace(b"%", b"%%") + payload.encode())
    return Built(
        sync_head=b'{"timestamp":',
        sync_tail=sync_tail.encode(),
        updates=updates,
        envelope_head=f'{{"timestamp":%d,{envelope},'.encode(),
    )


class Cache:
    """A few built workloads, so repetitions do not rebuild them."""

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._built: OrderedDict[tuple[Workload, int | None], Built] = OrderedDict()

    def get(self, workload: Workload, item: int | None) -> Built:
        key = (workload, item)
        built = self._built.pop(key, None)
        if built is None:
            built = build(workload, item)
        self._built[key] = built
        while len(self._built) > self._entries:
            self._built.popitem(last=False)
        return built


async def _write_all(
    conn: ServerConnection, frames: list[bytes], rate: int, unique: bool, last_ms: int
) -> dict[str, Any]:
    """Write every frame; return how long that took and how long the client held us up.

    ``sentNs`` is the time of the write. The envelope ``timestamp`` is that time's ms as
    fast as possible, and the frame's scheduled time's ms at a fixed rate (the moment a
    server would have made the change), so how many frames share a millisecond depends
    on the rate, not on this server's timer jitter. ``last_ms`` is the sync's timestamp;
    the result's ``last_ms`` is the last frame's.
    """
    transport = conn.transport
    time_ns, perf = time.time_ns, time.perf_counter
    total = len(frames)
    sent = 0
    blocked = 0.0
    writes = 0
    start, start_ns = perf(), time_ns()
    while sent < total:
        if transport.is_closing():
            break
        if rate > 0:
            due = min(total, int((perf() - start) * rate) + 1)
            if due <= sent:
                await asyncio.sleep(start + sent / rate - perf())
                continue
        else:
            due = min(total, sent + BATCH)
        ns = time_ns()
        ms = ns // 1_000_000
        if unique:
            ms = max(ms, last_ms + 1)
            batch = [frame % (ms + j, ns) for j, frame in enumerate(frames[sent:due])]
            last_ms = ms + len(batch) - 1
        elif rate > 0:
            batch = [
                frame % ((start_ns + k * 1_000_000_000 // rate) // 1_000_000, ns)
                for k, frame in enumerate(frames[sent:due], sent)
            ]
            last_ms = (start_ns + (due - 1) * 1_000_000_000 // rate) // 1_000_000
        else:
            batch = [frame % (ms, ns) for frame in frames[sent:due]]
            last_ms = ms
        transport.write(b"".join(batch))
        writes += 1
        sent = due
        if conn.paused:
            t = perf()
            await conn.drain()
            blocked += perf() - t
    elapsed = perf() - start
    return {
        "written": sent,
        "writes": writes,
        "send_s": round(elapsed, 6),
        "blocked_s": round(blocked, 6),
        "frames_per_s": round(sent / elapsed) if elapsed > 0 else None,
        "first_ns": start_ns,  # runners time a paced run from here, not from the sync
        "last_ms": last_ms,
    }


async def _serve_join(conn: ServerConnection, cache: Cache, data: dict[str, Any]) -> None:
    group = data.get("groupId")
    try:
        if data.get("streamName") != STREAM or not isinstance(group, str):
            raise ValueError(f"unknown stream {data.get('streamName')!r}, want {STREAM!r}")
        workload = Workload.from_group(group)
        item = None
        if data.get("id") is not None:
            item = int(str(data["id"]).removeprefix("todo-"))
            if not 0 <= item < workload.n:
                raise ValueError(f"no item {data['id']!r} in a group of {workload.n}")
    except ValueError as exc:
        # Refuse the way a Motia 0.x server does: a custom "error" event.
        error = {"type": "error", "data": {"code": "BAD_JOIN", "message": str(exc)}}
        envelope = {
            "timestamp": time.time_ns() // 1_000_000,
            "streamName": data.get("streamName"),
            "groupId": group,
            "event": {"type": "event", "event": error},
        }
        await conn.send(_DUMPS(envelope))
        return
    built = cache.get(workload, item)
    sync_ms = time.time_ns() // 1_000_000
    await conn.send(built.sync_head + b"%d" % sync_ms + built.sync_tail, text=True)
    settle = SETTLE_S + SETTLE_PER_ITEM_S * workload.n if workload.rate > 0 else 0.0
    if settle:
        await asyncio.sleep(settle)
    stats = await _write_all(conn, built.updates, workload.rate, workload.unique_stamps, sync_ms)
    # The official item subscriptions drop a frame stamped with the same ms as the one
    # before it, custom events included: bench-done gets a later ms (at most 1 ms ahead).
    done_ms = max(time.time_ns() // 1_000_000, stats.pop("last_ms") + 1)
    done_data = {"sent": stats["written"], "server": stats}
    done = {"type": "event", "event": {"type": DONE_EVENT, "data": done_data}}
    head = built.envelope_head % (done_ms,)
    await conn.send(head + _DUMPS({"event": done})[1:].encode(), text=True)


def make_handler(cache: Cache) -> Any:
    async def handler(conn: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in conn:
                try:
                    frame = json.loads(message)
                except ValueError:
                    continue
                if not isinstance(frame, dict) or frame.get("type") != "join":
                    continue  # leaves and anything else: ignored, like the real servers
                data = frame.get("data")
                if isinstance(data, dict):
                    await _serve_join(conn, cache, data)

    return handler


async def run(host: str, port: int, lifetime: float, cache_entries: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    cache = Cache(cache_entries)
    async with serve(
        make_handler(cache),
        host,
        port,
        compression=None,
        ping_interval=None,
        write_limit=WRITE_LIMIT,
        max_size=2**20,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"READY {bound}", flush=True)
        deadline = loop.time() + lifetime
        while not stop.is_set() and loop.time() < deadline and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit after this many s")
    parser.add_argument("--cache", type=int, default=CACHE_ENTRIES, help="built workloads kept")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stdlib event loop")
    args = parser.parse_args(argv)
    coro = run(args.host, args.port, args.lifetime, args.cache)
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(coro)
            return 0
    asyncio.run(coro)
    return 0


if __name__ == "__main__":
    sys.exit(main())
