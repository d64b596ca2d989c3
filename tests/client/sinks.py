"""A subscriber for driving the sans-I/O session directly: it records what it is told."""

from __future__ import annotations

from typing import Any

from motia_client import EventGap, MotiaError, StateDrift, SubscriptionRefused
from motia_client._session import Session, View
from motia_client._views import GroupView


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
