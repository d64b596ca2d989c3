"""Apply benchmark (issue 2): update frames applied per second to a group of N items.

Ours against the official Python client's ``StreamGroupSubscription`` (``motia.stream_client``
of PyPI ``motia==1.0.4rc1``), in one process, no sockets, same frames:

* **pre-decoded**: each side gets the frames already decoded into its own form (ours:
  ``decode_frame`` -> ``StateFrame``; official: the message ``dict``), in batches
  decoded outside the timer and dropped after use, like a client that frees each frame
  once applied. Ours = the room's reducer (``GroupState.change``) and the subscriber's
  view (``GroupView.apply``), what the session does per frame; official =
  ``StreamGroupSubscription.listener(message)``.
* **raw**: text frames through each client's receive path, decoding included. Ours =
  ``Session.receive`` with a subscription's sink (what the transport calls per
  message); official = ``json.loads`` + ``StreamClient._dispatch`` (its
  ``_receive_loop`` body).

Nobody listens to changes on either side (the official client still rebuilds and, with
a sort key, re-sorts its item list on every update; ours builds nothing until read).
Update k sets item ``indices[k]`` of ``benchmarks/workload.py`` with ``seq = k`` at
timestamp ``sync + 1 + k`` ms: unique stamps, since the official client drops an update
whose stamp is not newer than the item's last one. After each run the final items are
checked against the workload, so a side that skips work fails loudly.

Rates are frames per second of this process's CPU time (``time.process_time``), which
other processes on the machine disturb less than wall time; the median of ``--reps``.
The "dict floor" is a bare ``items[key] = item`` per decoded frame on the same group: the
machine's memory-bound limit for any dict-based client at that N. The "rules floor" adds,
inline, the two checks every frame must pass (the per-item stale-frame stamp and the
exact-duplicate check): the least any client keeping PROTOCOL.md's rules can do.

    python -m benchmarks.apply               # N = 100 .. 100,000, both sort modes, 3 reps
    python -m benchmarks.apply --quick       # 1 rep, shorter runs
    python -m benchmarks.apply --n 100,100000 --reps 5 --seconds 1
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import orjson

from benchmarks.workload import final_seqs, indices, item_id, make_item
from motia_client._protocol import StateFrame, decode_frame
from motia_client._session import Session
from motia_client._sink import Sink
from motia_client._state import GroupState
from motia_client._views import GroupView

STREAM = "bench"
GROUP = "apply"
SORT_KEY = "createdAt"
SYNC_TS = 1_763_750_000_000
CHUNK = 10_000  # at most this many frames decoded per untimed batch
FIRST_CHUNK = 8  # batches start small and double, so a slow client stops near its budget
TARGET_PLAIN = 500_000
TARGET_SORTED = 200_000
TARGET_SCALE = 1.5  # N=100,000 within this factor of N=100


# -- frames -----------------------------------------------------------------


def sync_frame(n: int) -> str:
    message = {
        "timestamp": SYNC_TS,
        "streamName": STREAM,
        "groupId": GROUP,
        "event": {"type": "sync", "data": [make_item(i) for i in range(n)]},
    }
    return orjson.dumps(message).decode()


def update_frames(n: int, m: int) -> tuple[list[int], list[str]]:
    """The workload's first ``m`` updates as Motia 0.x text frames."""
    idx = indices(n, m, seed=1)
    frames = [
        orjson.dumps(
            {
                "timestamp": SYNC_TS + 1 + k,
                "streamName": STREAM,
                "groupId": GROUP,
                "id": item_id(i),
                "event": {"type": "update", "data": make_item(i, seq=k)},
            }
        ).decode()
        for k, i in enumerate(idx)
    ]
    return idx, frames


def ours_decode(raw: str) -> StateFrame:
    frame = decode_frame(raw)
    assert type(frame) is StateFrame
    return frame


# -- one timed run ----------------------------------------------------------


@dataclass
class Run:
    applied: int
    cpu: float

    @property
    def rate(self) -> float:
        return self.applied / self.cpu if self.cpu > 0 else float("inf")


def batches(frames: Sequence[str]) -> Iterator[Sequence[str]]:
    """Consecutive batches of ``frames``: 8, 16, 32, ... up to ``CHUNK`` frames each."""
    start, size = 0, FIRST_CHUNK
    while start < len(frames):
        yield frames[start : start + size]
        start += size
        size = min(size * 2, CHUNK)


def timed(
    frames: Sequence[str],
    apply_batch: Callable[[Sequence[Any]], None],
    budget: float,
    decode: Callable[[str], Any] | None = None,
) -> Run:
    """Apply batches (decoded first, untimed, if ``decode``) until frames or budget run out."""
    applied, cpu = 0, 0.0
    gc.collect()
    for batch in batches(frames):
        ready: Sequence[Any] = batch if decode is None else [decode(raw) for raw in batch]
        start = time.process_time()
        apply_batch(ready)
        cpu += time.process_time() - start
        applied += len(ready)
        del ready
        if cpu >= budget:
            break
    return Run(applied, cpu)


# -- ours -------------------------------------------------------------------


def ours_pre(
    n: int, sort_key: str | None, sync: str, frames: Sequence[str], budget: float
) -> tuple[Run, dict[str, Any], list[Any]]:
    state = GroupState()
    view: GroupView[Any] = GroupView(state, sort_key)
    first = ours_decode(sync)
    view.apply(state.sync(first.timestamp, first.data), None, state.old, state.items)

    def apply_chunk(chunk: Sequence[StateFrame]) -> None:
        change = state.change
        for frame in chunk:
            view.before_change()
            key = frame.key
            assert key is not None
            op = change(frame.kind, key, frame.timestamp, frame.data)
            if op:
                view.apply(op, key, state.old, frame.data)

    run = timed(frames, apply_chunk, budget, ours_decode)
    return run, state.items, list(view.snapshot())


def _spawn(awaitable: Any, what: str) -> None:
    raise AssertionError("no coroutine listener here")


def ours_raw(
    n: int, sort_key: str | None, sync: str, frames: Sequence[str], budget: float
) -> tuple[Run, dict[str, Any], list[Any]]:
    """Text frames through the session's receive (what a transport calls), no socket."""
    session = Session()
    sink = Sink(_spawn, "bench")
    view = sink.view = session.subscribe(sink, STREAM, GROUP, sort_key=sort_key)
    assert isinstance(view, GroupView)
    session.connect()
    session.connection_made(SYNC_TS)  # as if the socket were open: frames are applied
    session.receive(sync)

    def receive(chunk: Sequence[str]) -> None:
        deliver = session.receive
        for raw in chunk:
            deliver(raw)

    run = timed(frames, receive, budget)
    return run, view.state.items, list(view.snapshot())


def dict_floor(
    n: int, sort_key: str | None, sync: str, frames: Sequence[str], budget: float
) -> tuple[Run, dict[str, Any], list[Any]]:
    items = {item["id"]: item for item in orjson.loads(sync)["event"]["data"]}

    def apply_chunk(chunk: Sequence[StateFrame]) -> None:
        for frame in chunk:
            items[frame.key] = frame.data

    run = timed(frames, apply_chunk, budget, ours_decode)
    return run, items, []


def rules_floor(
    n: int, sort_key: str | None, sync: str, frames: Sequence[str], budget: float
) -> tuple[Run, dict[str, Any], list[Any]]:
    """The dict floor plus the two rules every frame must pass (PROTOCOL.md section 5).

    The per-item stale-frame stamp and the exact-duplicate check, written inline:
    the least work any client that keeps those rules does per frame.
    """
    items = {item["id"]: item for item in orjson.loads(sync)["event"]["data"]}
    stamps: dict[str, int] = {}

    def apply_chunk(chunk: Sequence[StateFrame]) -> None:
        for frame in chunk:
            key, new, timestamp = frame.key, frame.data, frame.timestamp
            assert key is not None
            if timestamp < stamps.get(key, 0):
                continue
            stamps[key] = timestamp
            if items.get(key) == new:
                continue
            items[key] = new

    run = timed(frames, apply_chunk, budget, ours_decode)
    return run, items, []


# -- the official client ----------------------------------------------------


def load_official() -> tuple[ModuleType | None, str]:
    """Install (idempotently) and load the official client; ``None`` and why if impossible."""
    try:
        from benchmarks.setup_peers import ensure_python_peer

        status = ensure_python_peer(quiet=True)
        if not status.ok:
            return None, status.detail
        from benchmarks.runners.official_py import load_stream_client

        return load_stream_client(), status.name
    except Exception as exc:  # a benchmark reports, it does not crash on a missing peer
        return None, f"{type(exc).__name__}: {exc}"


def official_pre(
    module: ModuleType,
    sort_key: str | None,
    sync: str,
    frames: Sequence[str],
    budget: float,
) -> tuple[Run, list[Any]]:
    join = module.JoinMessage(stream_name=STREAM, group_id=GROUP, subscription_id="bench")
    sub = module.StreamGroupSubscription(join, sort_key)
    sub.listener(orjson.loads(sync))

    def apply_chunk(chunk: Sequence[dict[str, Any]]) -> None:
        listener = sub.listener
        for message in chunk:
            listener(message)

    run = timed(frames, apply_chunk, budget, orjson.loads)
    return run, list(sub.get_state())


def official_raw(
    module: ModuleType,
    sort_key: str | None,
    sync: str,
    frames: Sequence[str],
    budget: float,
) -> tuple[Run, list[Any]]:
    client = module.StreamClient("ws://127.0.0.1:9/unused")  # never connects
    join = module.JoinMessage(stream_name=STREAM, group_id=GROUP, subscription_id="bench")
    sub = module.StreamGroupSubscription(join, sort_key)
    room = client._room_name({"streamName": STREAM, "groupId": GROUP})
    client._listeners[room] = {sub}
    client._dispatch(orjson.loads(sync))

    def receive(chunk: Sequence[str]) -> None:
        loads, dispatch = module.json.loads, client._dispatch  # its own decoder (stdlib json)
        for raw in chunk:
            dispatch(loads(raw))

    run = timed(frames, receive, budget)
    return run, list(sub.get_state())


# -- checks -----------------------------------------------------------------


def check(
    who: str,
    n: int,
    idx: list[int],
    applied: int,
    items: Sequence[dict[str, Any]],
    sort_key: str | None,
) -> None:
    """Fail loudly unless ``items`` hold exactly the workload's state after ``applied`` updates."""
    want = final_seqs(n, idx[:applied])
    if len(items) != n:
        raise AssertionError(f"{who}: {len(items)} items, want {n}")
    got = {item["id"]: item["seq"] for item in items}
    for i in range(0, n, max(1, n // 1000)):  # a spread sample keeps the check cheap
        if got.get(item_id(i)) != want[i]:
            raise AssertionError(
                f"{who}: {item_id(i)} has seq {got.get(item_id(i))}, want {want[i]}"
            )
    if sort_key is not None:
        values = [item[sort_key] for item in items]
        if values != sorted(values):
            raise AssertionError(f"{who}: items are not ordered by {sort_key}")


# -- the matrix -------------------------------------------------------------


Cell = dict[str, float | None]


def measure(
    n: int,
    sort_key: str | None,
    module: ModuleType | None,
    reps: int,
    budget: float,
    m: int,
) -> Cell:
    sync = sync_frame(n)
    idx, frames = update_frames(n, m)
    rates: dict[str, list[float]] = {}

    def record(name: str, run: Run) -> None:
        rates.setdefault(name, []).append(run.rate)

    for _ in range(reps):
        run, by_id, ordered = ours_pre(n, sort_key, sync, frames, budget)
        check("ours pre-decoded", n, idx, run.applied, ordered or list(by_id.values()), sort_key)
        record("ours_pre", run)
        run, by_id, ordered = ours_raw(n, sort_key, sync, frames, budget)
        check("ours raw", n, idx, run.applied, ordered or list(by_id.values()), sort_key)
        record("ours_raw", run)
        if sort_key is None:
            run, _, _ = dict_floor(n, sort_key, sync, frames, budget)
            record("floor", run)
            run, by_id, _ = rules_floor(n, sort_key, sync, frames, budget)
            check("rules floor", n, idx, run.applied, list(by_id.values()), sort_key)
            record("rules", run)
        if module is not None:
            run, state = official_pre(module, sort_key, sync, frames, budget)
            check("official pre-decoded", n, idx, run.applied, state, sort_key)
            record("official_pre", run)
            run, state = official_raw(module, sort_key, sync, frames, budget)
            check("official raw", n, idx, run.applied, state, sort_key)
            record("official_raw", run)
    cell: Cell = {name: statistics.median(values) for name, values in rates.items()}
    return cell


def fmt(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:,.0f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:,.0f}x" if a / b >= 10 else f"{a / b:.1f}x"


def report(results: dict[tuple[int, str | None], Cell], official: str, reps: int) -> bool:
    print()
    print(
        f"Apply benchmark (issue 2): update frames applied per second of CPU time, median of {reps}"
    )
    print(f"official = {official}")
    print(
        "pre-decoded: decoding excluded on both sides (ours StateFrame, official dict); "
        "raw: decoding included on both sides (ours orjson via the session, official "
        "stdlib json as its _receive does)"
    )
    print()
    print(
        "| N | sort key | ours pre-decoded | official pre-decoded | ours/official "
        "| ours raw (Session.receive) | official raw (json.loads + _dispatch) | ours/official "
        "| dict floor | rules floor |"
    )
    print("|" + "---|" * 10)
    for (n, sort_key), cell in sorted(results.items(), key=lambda kv: (kv[0][1] or "", kv[0][0])):
        ours_pre, official_pre = cell.get("ours_pre"), cell.get("official_pre")
        ours_raw, official_raw = cell.get("ours_raw"), cell.get("official_raw")
        print(
            f"| {n:,} | {sort_key or '-'} | {fmt(ours_pre)} | {fmt(official_pre)} "
            f"| {ratio(ours_pre, official_pre)} | {fmt(ours_raw)} | {fmt(official_raw)} "
            f"| {ratio(ours_raw, official_raw)} | {fmt(cell.get('floor'))} "
            f"| {fmt(cell.get('rules'))} |"
        )
    print()
    ok = True
    ns = sorted({n for n, _ in results})
    for sort_key, target in ((None, TARGET_PLAIN), (SORT_KEY, TARGET_SORTED)):
        label = f"sort_key={sort_key}" if sort_key else "no sort key"
        rows = {n: results[(n, sort_key)] for n in ns if (n, sort_key) in results}
        for n, cell in rows.items():
            rate = cell.get("ours_pre") or 0.0
            mark = "ok  " if rate >= target else "!!! MISS"
            ok &= rate >= target
            print(f"{mark} {label}, N={n:,}: {rate:,.0f}/s pre-decoded (target >= {target:,})")
        if 100 in rows and 100_000 in rows:
            for path in ("ours_pre", "ours_raw"):
                small = rows[100].get(path) or 0.0
                large = rows[100_000].get(path) or 0.0
                slow = small / large if large else float("inf")
                mark = "ok  " if slow <= TARGET_SCALE else "!!! MISS"
                if path == "ours_pre":
                    ok &= slow <= TARGET_SCALE
                print(
                    f"{mark} {label}, {path}: N=100 is {slow:.2f}x the rate at N=100,000 "
                    f"(target <= {TARGET_SCALE}x)"
                )
    if any("floor" in cell for cell in results.values()) and 100 in ns and 100_000 in ns:
        small = results[(100, None)].get("floor") or 0.0
        large = results[(100_000, None)].get("floor") or 0.0
        if large:
            print(
                f"note: the dict floor itself is {small / large:.2f}x slower at N=100,000 "
                "than at N=100 on this machine (memory latency)"
            )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="100,1000,10000,100000", help="group sizes (comma list)")
    parser.add_argument("--sort", choices=["both", "yes", "no"], default="both")
    parser.add_argument("--reps", type=int, default=3, help="runs per cell (median)")
    parser.add_argument("--seconds", type=float, default=0.5, help="CPU-time budget per run")
    parser.add_argument("--m", type=int, default=200_000, help="update frames prepared per N")
    parser.add_argument("--no-official", action="store_true", help="measure ours only")
    parser.add_argument("--quick", action="store_true", help="1 rep, 0.2 s runs, M=60,000")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.seconds, args.m = 1, 0.2, 60_000
    sizes = [int(part.replace("_", "")) for part in args.n.split(",") if part.strip()]
    modes: dict[str, list[str | None]] = {"both": [None, SORT_KEY], "yes": [SORT_KEY], "no": [None]}
    sort_keys = modes[args.sort]
    module, official = (None, "skipped (--no-official)")
    if not args.no_official:
        module, official = load_official()
        if module is None:
            print(f"official client unavailable: {official}", file=sys.stderr)
            official = f"unavailable ({official})"
    results: dict[tuple[int, str | None], Cell] = {}
    for sort_key in sort_keys:
        for n in sizes:
            start = time.perf_counter()
            results[(n, sort_key)] = measure(n, sort_key, module, args.reps, args.seconds, args.m)
            took = time.perf_counter() - start
            print(f"  N={n:,} sort_key={sort_key}: {took:.1f} s", file=sys.stderr, flush=True)
    if not report(results, official, args.reps):
        print("!!! some targets were missed (see the lines above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
