"""The benchmark workload, shared by the server and every runner.

A run is fully described by its group id, ``n{N}-m{M}-r{RATE}-s{SEED}``: the server
parses it from the join, so any client can request any workload just by the group it
subscribes to, and the runners rebuild the same sequence to check what they receive.

* The group holds N todo-like items (about 150 bytes each): ``id`` ``todo-000042``,
  ``description``, ``createdAt`` (ISO strings increasing with the index, so sorting by
  ``createdAt`` keeps sync order), ``completed``, ``seq`` (-1 in the sync) and ``sentNs``.
* Update k (0 <= k < M) sets item ``indices(n, m, seed)[k]`` with ``seq = k`` and
  ``sentNs`` = the server's ``time.time_ns()`` when the frame was written.
* RATE is frames per second, 0 for "as fast as the client reads".
* Envelope timestamps are the server's wall clock in ms, as a Motia server stamps
  them, so at these rates many frames share a millisecond. The suffix ``-u``
  (``n100-m1000-r0-s1-u``) makes them unique instead (each frame's ms is one more than
  the previous one's, running ahead of the clock): the official clients drop an update
  whose item already changed within the same ms (and their item subscription any frame
  of the same ms), which also skips their costly path, so ``-u`` is how to compare equal
  work with them.
* An item join (``id`` = one item's id) gets that item's sync, then M updates of it.

Item positions never change (updates keep ``createdAt``), so a runner's change
listener finds the item touched by update k at position ``indices[k]`` of the ordered
items in O(1), checks its ``seq``, and reads its ``sentNs`` for the latency. The index
sequence is a 32-bit LCG (not ``random``) so the Node runner computes the same one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

STREAM = "bench"
DONE_EVENT = "bench-done"

_GROUP_RE = re.compile(r"^n(\d+)-m(\d+)-r(\d+)-s(\d+)(-u)?$")
_EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
_DESCRIPTION = "Todo {i}: buy milk, answer the mail, ship it"


@dataclass(frozen=True)
class Workload:
    n: int
    m: int
    rate: int = 0
    seed: int = 1
    unique_stamps: bool = False

    @property
    def group(self) -> str:
        suffix = "-u" if self.unique_stamps else ""
        return f"n{self.n}-m{self.m}-r{self.rate}-s{self.seed}{suffix}"

    @classmethod
    def from_group(cls, group: str) -> Workload:
        match = _GROUP_RE.match(group)
        if match is None:
            raise ValueError(f"not a benchmark group id: {group!r} (want n100-m1000-r0-s1)")
        n, m, rate, seed = (int(g) for g in match.groups()[:4])
        if n < 1:
            raise ValueError("a benchmark group needs n >= 1")
        return cls(n=n, m=m, rate=rate, seed=seed, unique_stamps=match.group(5) is not None)


def item_id(i: int) -> str:
    return f"todo-{i:06d}"


def created_at(i: int) -> str:
    stamp = _EPOCH + timedelta(seconds=i)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def make_item(i: int, seq: int = -1, sent_ns: int = 0) -> dict[str, object]:
    return {
        "id": item_id(i),
        "description": _DESCRIPTION.format(i=i),
        "createdAt": created_at(i),
        "completed": False,
        "seq": seq,
        "sentNs": sent_ns,
    }


def indices(n: int, m: int, seed: int) -> list[int]:
    """Which item each update touches: ``(state >> 8) % n`` of a 32-bit LCG.

    Mirrored exactly in ``runners/official_node.mjs``.
    """
    state = seed & 0xFFFFFFFF
    out = [0] * m
    for k in range(m):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        out[k] = (state >> 8) % n
    return out


def final_seqs(n: int, idx: list[int]) -> list[int]:
    """The ``seq`` each item must hold once every update is applied (-1: never updated)."""
    last = [-1] * n
    for k, i in enumerate(idx):
        last[i] = k
    return last
