"""The drift check (``verify_interval``): find and repair a socket that silently stopped.

A socket can stay open, answer pings, and still stop delivering a room's changes
(the iii engine's README documents one such stall, after a storage adapter swap).
Every ``verify_interval`` seconds the client fetches a fresh snapshot of each
synced room's group on a second, short-lived socket (a throwaway session joins
the groups and keeps their syncs), waits a grace period for frames still in
flight on the live socket, and asks the session which rooms differ in a way no
newer frame explains. A difference must show in two snapshots in a row before it
counts: under a steady write load, a write that raced the first snapshot is
explained by the second. A confirmed drift is repaired from the second snapshot
(the change feed says what changed, with ``resync=True``), reported to the
room's ``on_error`` listeners as :class:`~motia_client.StateDrift`, and the live
socket is replaced (the caller reconnects).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from motia_client._exceptions import MotiaError, StateDrift
from motia_client._session import EventGap, RoomKey, Session, View
from motia_client._transport import Transport, now_ms, read_all
from motia_client._views import GroupView

__all__ = ["FETCH_TIMEOUT", "GRACE", "Snapshot", "check", "fetch"]

logger = logging.getLogger("motia_client")
GRACE = 0.5  # seconds for frames in flight on the live socket to arrive (at most)
FETCH_TIMEOUT = 5.0  # seconds a snapshot may take (a slow access check per join)
Snapshot = dict[tuple[str, str], tuple[dict[str, Any], int]]  # (stream, group) -> items, at


class _Keeper:
    """The snapshot session's subscriber of one group: it notes when the group answered."""

    def __init__(self, answered: Callable[[], None]) -> None:
        self._answered = answered
        self.refused_join = False

    def changed(self, resync: bool) -> None:
        """The sync arrived (the view holds it)."""
        self._answered()

    def event(self, event_type: str, data: Any) -> None:
        """Events are not state: ignored."""

    def refused(self, error: MotiaError) -> None:
        """A refused group is not checked."""
        self.refused_join = True
        self._answered()

    def gap(self, gap: EventGap) -> None:
        """No gap on a one-shot socket."""

    def ended(self, error: MotiaError | None) -> None:
        """Nothing to release."""

    def drifted(self, drift: StateDrift) -> None:
        """Not checked itself."""


async def fetch(
    open_transport: Callable[[], Awaitable[Transport]], groups: list[tuple[str, str]]
) -> Snapshot:
    """Join ``groups`` on a new socket; return each synced group's items and server time.

    Returns as soon as every group answered (its sync, or a refusal), the socket
    ended, or ``FETCH_TIMEOUT`` passed.
    """
    transport = await open_transport()
    session = Session()
    answered = asyncio.Event()
    members: list[tuple[_Keeper, View[Any]]] = []

    def check_answered() -> None:
        if all(view.synced or keeper.refused_join for keeper, view in members):
            answered.set()

    for group in groups:
        keeper = _Keeper(check_answered)
        members.append((keeper, session.subscribe(keeper, *group)))
    session.connect()
    session.connection_made(now_ms())
    reader = asyncio.get_running_loop().create_task(read_all(transport, session.receive))
    waiting = asyncio.get_running_loop().create_task(answered.wait())
    try:
        for frame in session.data_to_send():
            await transport.send(frame)
        await asyncio.wait({reader, waiting}, timeout=FETCH_TIMEOUT, return_when="FIRST_COMPLETED")
    finally:
        for task in (reader, waiting):
            task.cancel()
        await asyncio.gather(reader, waiting, return_exceptions=True)
        await transport.close()
    snapshot: Snapshot = {}
    for group, (_, view) in zip(groups, members, strict=True):
        if view.synced and isinstance(view, GroupView):
            state = view.state
            snapshot[group] = (dict(state.items), state.floor)
    return snapshot


async def check(
    session: Session, open_transport: Callable[[], Awaitable[Transport]], grace: float = GRACE
) -> list[StateDrift]:
    """One drift check of every synced room; repair what drifted and return the drifts.

    An empty list when nothing drifted, or when the connection changed meanwhile (the
    resync after a reconnect replaces the state anyway).
    """
    generation = session.generation
    groups = session.verifiable()
    if not groups:
        return []
    first = await fetch(open_transport, groups)
    await asyncio.sleep(grace)
    if session.generation != generation:
        return []
    suspects: dict[RoomKey, StateDrift] = {}
    for key in list(session.rooms):
        taken = first.get((key[0], key[1]))
        if taken is not None:
            drift = session.drift(key, *taken)
            if drift is not None:
                suspects[key] = drift
    if not suspects:
        logger.debug("drift check: %d group(s) in step with the server", len(first))
        return []
    second = await fetch(open_transport, sorted({(k[0], k[1]) for k in suspects}))
    await asyncio.sleep(grace)
    if session.generation != generation:
        return []
    drifts = []
    for key, suspect in suspects.items():
        taken = second.get((key[0], key[1]))
        if taken is None:
            continue
        drift = session.drift(key, *taken)
        if drift is None or not _overlap(suspect, drift):
            continue  # the first difference was a race the second snapshot explains
        session.repair(key, taken[0], taken[1], drift)
        drifts.append(drift)
    return drifts


def _overlap(first: StateDrift, second: StateDrift) -> bool:
    before = {*first.missing, *first.extra, *first.different}
    return any(i in before for i in (*second.missing, *second.extra, *second.different))
