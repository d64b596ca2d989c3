"""What every Python runner shares: its arguments, the trackers, the one-line JSON result.

A runner is a process: ``python -m benchmarks.runners.NAME --url ws://127.0.0.1:PORT
--group n100-m100000-r0-s1 [--sort-key createdAt] [--item todo-000042]``. It connects,
joins, applies every update through the client's own state with one change listener,
and prints exactly one JSON line (``Result``) on stdout. Exit status 0 when the run
completed (even with lost updates: the harness reports those), ``EXIT_FAILED`` when it
did not, ``EXIT_UNAVAILABLE`` when the client under test cannot be imported.

The trackers are the change listeners' bodies. They run inside the client's listener
and cost O(1) per call: the workload says which item update k touched and items never
move, so update k is at position ``indices[k]`` of the ordered items (see
``benchmarks/workload.py``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from benchmarks.workload import STREAM, Workload, final_seqs, indices, item_id

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3

#: How far ahead a listener call may look for the update it reports (dropped updates).
SCAN_LIMIT = 4096


def parse_args(
    name: str,
    argv: list[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The common runner options; ``extra`` adds a runner's own."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.runners.{name}")
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/")
    parser.add_argument("--group", required=True, help="workload group id, e.g. n100-m1000-r0-s1")
    parser.add_argument("--stream", default=STREAM)
    parser.add_argument("--sort-key", default=None, help="e.g. createdAt (group path only)")
    parser.add_argument("--item", default=None, help="an item id: measure the item path")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many s")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    args.workload = Workload.from_group(args.group)
    if not args.url.startswith(("ws://127.0.0.1:", "ws://localhost:")):
        parser.error("benchmarks only run on loopback")
    return args


def rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(sorted_values: Sequence[int], q: float) -> int | None:
    if not sorted_values:
        return None
    pos = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[pos]


class Tracker:
    """Counts, latencies and timing of one run; subclasses know what a change looks like."""

    def __init__(self, runner: str, args: argparse.Namespace) -> None:
        self.runner = runner
        self.args = args
        self.workload: Workload = args.workload
        self.latencies: list[int] = []  # ns, send time to change listener
        self.unmatched = 0  # listener calls that matched no update
        self.t_sync: int | None = None  # time.time_ns(): comparable with the server's clock
        self.cpu_sync = 0.0
        self.t_done: int | None = None
        self.cpu_done = 0.0
        self.done_data: Mapping[str, Any] = {}
        self.notes: list[str] = []
        self.error: str | None = None

    @property
    def finished(self) -> bool:
        return self.t_done is not None or self.error is not None

    def mark_sync(self) -> None:
        self.t_sync = time.time_ns()
        self.cpu_sync = time.process_time()

    def on_done(self, data: Any) -> None:
        """The ``bench-done`` custom event listener."""
        if self.t_done is None:
            self.t_done = time.time_ns()
            self.cpu_done = time.process_time()
            self.done_data = data if isinstance(data, Mapping) else {}

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def stale_items(self) -> int | None:
        return None

    def result(self) -> dict[str, Any]:
        w = self.workload
        sent = self.done_data.get("sent")
        applied = len(self.latencies)
        lat = sorted(self.latencies)
        out: dict[str, Any] = {
            "runner": self.runner,
            "n": w.n,
            "m": w.m,
            "rate": w.rate,
            "sort_key": self.args.sort_key,
            "item": self.args.item,
            "sent": sent,
            "applied": applied,
            "lost": (sent - applied) if isinstance(sent, int) else None,
            "stale_items": self.stale_items() if self.t_done is not None else None,
            "unmatched_calls": self.unmatched,
        }
        if self.t_sync is not None and self.t_done is not None and isinstance(sent, int):
            # From the sync, or from the first update if the server paused after the sync.
            server = self.done_data.get("server") or {}
            start = max(self.t_sync, int(server.get("first_ns") or 0))
            elapsed = (self.t_done - start) / 1e9
            cpu = self.cpu_done - self.cpu_sync
            out["elapsed_s"] = round(elapsed, 4)
            out["msgs_per_s"] = round(sent / elapsed) if elapsed > 0 else None
            out["cpu_s"] = round(cpu, 4)
            out["cpu_us_per_msg"] = round(cpu / sent * 1e6, 3) if sent else None
        for name, q in (("p50_ms", 0.50), ("p99_ms", 0.99), ("max_ms", 1.0)):
            value = percentile(lat, q)
            out[name] = None if value is None else round(value / 1e6, 3)
        out["rss_mb"] = rss_mb()
        out["server"] = self.done_data.get("server")
        if self.notes:
            out["notes"] = self.notes
        if self.error is not None:
            out["error"] = self.error
        elif self.t_done is None:
            out["error"] = "no bench-done received"
        return out


class GroupTracker(Tracker):
    """For a group subscription: ``on_change(items)`` with the ordered items.

    By default the listener reads the touched item at its position in ``items``, which
    is O(1) for a list or tuple. A client whose ordered items are built lazily can pass
    ``by_id``, a getter of its live id -> item mapping (called once, at the sync): the
    listener then never reads ``items`` after the sync, keeps no reference to them,
    and pays nothing for an ordered view it does not use.
    """

    def __init__(
        self,
        runner: str,
        args: argparse.Namespace,
        by_id: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
    ) -> None:
        super().__init__(runner, args)
        w = self.workload
        self.idx = indices(w.n, w.m, w.seed)
        self.expected = final_seqs(w.n, self.idx)
        self.next = 0
        self.m = w.m
        self.by_id_getter = by_id
        self.ids = [item_id(i) for i in range(w.n)]
        # Where update k's item is: a position in items, or an id in the by-id mapping.
        self.keys: list[Any] = self.idx if by_id is None else [self.ids[i] for i in self.idx]
        self.source: Any = None  # the items (positional) or the mapping (by id)
        self.stale: int | None = None

    def on_change(self, items: Sequence[Mapping[str, Any]]) -> None:
        """The change listener: record the latency of the update this change applied."""
        now = time.time_ns()
        if self.t_sync is None:
            if len(items) == self.workload.n:
                self._check_order(items)
                self.mark_sync()
                self.source = items if self.by_id_getter is None else self.by_id_getter()
            else:
                self.unmatched += 1
            return
        if self.by_id_getter is None:
            self.source = items
        source, keys, j = self.source, self.keys, self.next
        stop = j + SCAN_LIMIT  # not min(): the listener's own cost is charged to the client
        if stop > self.m:
            stop = self.m
        while j < stop:
            item = source[keys[j]]
            if item["seq"] == j:
                self.latencies.append(now - item["sentNs"])
                self.next = j + 1
                return
            j += 1  # update j was never applied (or never reported): it counts as lost
        self.unmatched += 1

    def on_done(self, data: Any) -> None:
        super().on_done(data)
        if self.stale is None:
            self.stale = self._count_stale()

    def _check_order(self, items: Sequence[Mapping[str, Any]]) -> None:
        for position, item in enumerate(items):
            if item.get("id") != self.ids[position]:
                self.fail(
                    f"items are not in sync order: position {position} holds "
                    f"{item.get('id')!r}; the tracker cannot locate updates"
                )
                return

    def _count_stale(self) -> int:
        """Items whose final value is not the last update the server sent for them."""
        source = self.source
        if source is None or len(source) != self.workload.n:
            return self.workload.n  # no state, or it lost or gained items
        stale = 0
        for i, seq in enumerate(self.expected):
            item = source[i] if self.by_id_getter is None else source.get(self.ids[i])
            if item is None or item.get("seq") != seq:
                stale += 1
        return stale

    def stale_items(self) -> int | None:
        return self.stale


class ItemTracker(Tracker):
    """For an item subscription: ``on_change(item)`` with the item (or ``None``)."""

    def __init__(self, runner: str, args: argparse.Namespace) -> None:
        super().__init__(runner, args)
        self.next = 0
        self.last_item: Mapping[str, Any] | None = None

    def on_change(self, item: Mapping[str, Any] | None) -> None:
        now = time.time_ns()
        self.last_item = item
        if item is None:
            self.unmatched += 1
            return
        seq = item["seq"]
        if self.t_sync is None:
            if seq == -1:
                self.mark_sync()
            else:
                self.unmatched += 1
            return
        if seq >= self.next:
            self.latencies.append(now - item["sentNs"])
            self.next = seq + 1
        else:
            self.unmatched += 1

    def stale_items(self) -> int | None:
        final = self.workload.m - 1
        return 0 if self.last_item is not None and self.last_item.get("seq") == final else 1


def tracker_for(
    runner: str,
    args: argparse.Namespace,
    by_id: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
) -> GroupTracker | ItemTracker:
    return ItemTracker(runner, args) if args.item else GroupTracker(runner, args, by_id)


def emit(result: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def finish(tracker: Tracker) -> int:
    """Print the result line; the exit status says whether the run completed."""
    result = tracker.result()
    emit(result)
    return EXIT_FAILED if "error" in result else 0


def unavailable(runner: str, reason: str) -> int:
    emit({"runner": runner, "unavailable": True, "error": reason})
    print(f"{runner}: {reason}", file=sys.stderr)
    return EXIT_UNAVAILABLE


def crashed(runner: str, exc: BaseException) -> int:
    """A runner failed outside the measured path: still one parseable line."""
    emit({"runner": runner, "error": f"crashed: {exc!r}"})
    return EXIT_FAILED
