"""Driving the sans-I/O session directly: a subscriber that records what it is told,
and server frames built as PROTOCOL.md section 4 draws them."""

from __future__ import annotations

import json
from typing import Any

from motia_client import EventGap, MotiaError, StateDrift, SubscriptionRefused
from motia_client._session import Session, View
from motia_client._views import GroupView

# A client clock (ms) for connection_made: the frames below (timestamps near 1,000) are
# far inside its window, which ends one day after it.
NOW_MS = 1_763_750_000_000


class RecordingSink:
    """A :class:`~motia_client._session.SubscriberSink` that keeps every call it gets."""

    def __init__(self, name: str = "sink") -> None:
        self.name = name
        self.view: View | None = None
        self.changes = 0
        self.resyncs = 0
        self.errors: list[Any] = []  # validation errors reported with the changes
        self.recorded: list[tuple[str, str, Any, Any]] = []  # the change feed, when tracking
        self.events: list[tuple[str, Any]] = []
        self.refusals: list[SubscriptionRefused] = []
        self.gaps: list[EventGap] = []
        self.endings: list[MotiaError | None] = []
        self.drifts: list[StateDrift] = []

    def subscribe(
        self, session: Session, stream: str, group: str, item_id: str | None = None, **kw: Any
    ) -> RecordingSink:
        """Subscribe this sink; keep its view."""
        self.view = session.subscribe(self, stream, group, item_id, **kw)
        return self

    @property
    def state(self) -> Any:
        """Its view's current state: the items in order, or the item."""
        view = self.view
        assert view is not None
        if isinstance(view, GroupView):
            return list(view.snapshot())
        return view.snapshot()

    def changed(self, resync: bool) -> None:
        self.changes += 1
        self.resyncs += resync
        assert self.view is not None
        self.errors.extend(self.view.errors)
        self.view.errors.clear()
        self.recorded.extend(self.view.recorded)
        self.view.recorded.clear()

    def event(self, event_type: str, data: Any) -> None:
        self.events.append((event_type, data))

    def refused(self, error: SubscriptionRefused) -> None:
        self.refusals.append(error)

    def gap(self, gap: EventGap) -> None:
        self.gaps.append(gap)

    def ended(self, error: MotiaError | None) -> None:
        self.endings.append(error)

    def drifted(self, drift: StateDrift) -> None:
        self.drifts.append(drift)

    def __repr__(self) -> str:
        return f"<RecordingSink {self.name}>"


# -- server frames ------------------------------------------------------------------------


def wire(
    event: dict[str, Any],
    *,
    group: str = "inbox",
    item_id: str | None = None,
    ts: int = 1000,
    stream: str = "todo",
    iii: bool = False,
) -> str:
    """One server frame: a 0.x envelope, or iii's (``"type": "stream"``, ``id`` always present)."""
    message: dict[str, Any] = {"type": "stream"} if iii else {}
    message.update(timestamp=ts, streamName=stream, groupId=group)
    if item_id is not None or iii:
        message["id"] = item_id
    message["event"] = event
    return json.dumps(message)


def sync(data: Any, **kw: Any) -> str:
    """A sync: a list of items for a group join, an item (or ``None``) for an item join."""
    return wire({"type": "sync", "data": data}, **kw)


def put(item: dict[str, Any], kind: str = "update", **kw: Any) -> str:
    """A create or update of ``item`` (the envelope ``id`` is the item's)."""
    return wire({"type": kind, "data": item}, item_id=item["id"], **kw)


def delete(item_id: str, data: Any = None, **kw: Any) -> str:
    """A delete (``data`` is the item's last value, or ``None``)."""
    return wire({"type": "delete", "data": data}, item_id=item_id, **kw)


def custom(name: str, data: Any = None, **kw: Any) -> str:
    """A custom event."""
    return wire({"type": "event", "event": {"type": name, "data": data}}, **kw)


def unauthorized(**kw: Any) -> str:
    """The iii engine's refusal."""
    return wire({"type": "unauthorized"}, iii=True, **kw)


def denied(code: str = "STREAM_ACCESS_DENIED", **kw: Any) -> str:
    """Motia 0.x's refusal: a custom ``error`` event."""
    data = {"code": code, "message": "Access denied"}
    return wire({"type": "event", "event": {"type": "error", "data": data}}, **kw)


def sent(session: Session) -> list[dict[str, Any]]:
    """The frames the session wants sent now, decoded."""
    return [json.loads(frame) for frame in session.data_to_send()]


def connected(**options: Any) -> Session:
    """A session whose first connection is open (and whose outputs so far were taken)."""
    session = Session(**options)
    session.connect()
    session.connection_made(NOW_MS)
    session.data_to_send()
    session.timers_wanted()
    return session
