"""What one subscription hears from the session, turned into listener calls and values.

A :class:`Sink` is the session's :class:`~motia_client._session.SubscriberSink` for
one subscription: it reports its view's validation errors, turns the view's recorded
changes into :class:`ItemChange` values for the change feed, calls the change,
event, gap and error listeners (``_listeners``), and feeds the queues of the
subscription's async iterators. It is compiled with the session (a release wheel),
which is why it is apart from the user-facing ``Subscription``: every change of
every subscription runs through :meth:`Sink.changed`.
"""

from __future__ import annotations

import logging
from typing import Any

from motia_client._exceptions import MotiaError, StateDrift
from motia_client._feed import ItemChange
from motia_client._listeners import Listeners, Spawner
from motia_client._session import EventGap, View
from motia_client._views import Recorded

__all__ = ["CLOSED", "Sink"]

logger = logging.getLogger("motia_client")
CLOSED: Any = object()  # what a waiting queue gets when the subscription ended


class Sink:
    """The listeners and waiters of one subscription, told of each change by the session."""

    def __init__(self, spawn: Spawner, name: str) -> None:
        self.name = name  # "subscription stream/group[/id]", for log lines
        self.view: View[Any] | None = None  # set by the owner once subscribed
        self.change_listeners: Listeners[Any] = Listeners(spawn)
        self.event_listeners: dict[str, Listeners[Any]] = {}
        self.any_event_listeners: Listeners[Any] = Listeners(spawn)
        self.error_listeners: Listeners[Any] = Listeners(spawn)
        self.gap_listeners: Listeners[Any] = Listeners(spawn)
        self.feed_listeners: Listeners[Any] = Listeners(spawn)
        self.waiters: list[Any] = []  # the queues of changes()
        self.feed_waiters: list[Any] = []  # the queues of item_changes()
        self.error: MotiaError | None = None  # why it ended badly (a refusal, a failed client)
        self.closed = False
        self._spawn = spawn

    def events_of(self, event_type: str) -> Listeners[Any]:
        """The listeners of one custom event type (created when first asked for)."""
        listeners = self.event_listeners.get(event_type)
        if listeners is None:
            listeners = self.event_listeners[event_type] = Listeners(self._spawn)
        return listeners

    def track(self) -> None:
        """The view records item changes only while someone follows the feed."""
        view = self.view
        if view is not None:
            view.tracks = bool(self.feed_listeners) or bool(self.feed_waiters)

    # -- what the session calls (SubscriberSink) -----------------------------------

    def changed(self, resync: bool) -> None:
        """The view changed: report its errors, tell the feed, the listeners and the waiters."""
        view = self.view
        assert view is not None
        if self.error is not None:
            self.error = None  # state flows again (e.g. rejoined with a new token)
        if view.errors:
            errors = list(view.errors)
            view.errors.clear()
            for error in errors:
                self.report(error)
        if view.tracks:
            self._feed(view.recorded, resync)
        if self.change_listeners:
            self.change_listeners.emit(view.snapshot())
        if self.waiters:
            frozen = view.frozen()
            for queue in self.waiters:
                queue.put_nowait(frozen)

    def _feed(self, recorded: list[Recorded], resync: bool) -> None:
        changes = [ItemChange(kind, key, old, new, resync) for kind, key, old, new in recorded]
        recorded.clear()
        for change in changes:
            self.feed_listeners.emit(change)
            for queue in self.feed_waiters:
                queue.put_nowait(change)

    def event(self, event_type: str, data: Any) -> None:
        """A custom event arrived."""
        listeners = self.event_listeners.get(event_type)
        if listeners is not None and listeners:
            listeners.emit(data)
        if self.any_event_listeners:
            self.any_event_listeners.emit(event_type, data)

    def gap(self, gap: EventGap) -> None:
        """Custom events may have been missed."""
        if self.gap_listeners:
            self.gap_listeners.emit(gap)
        else:
            logger.debug("%s: events may have been missed: %s", self.name, gap)

    def refused(self, error: MotiaError) -> None:
        """The server refused the join: report it and end every waiter with it."""
        self.error = error
        self.report(error)
        self.wake_all()

    def ended(self, error: MotiaError | None) -> None:
        """The subscription ended (closed, or the client closed or failed)."""
        if error is not None and self.error is None:
            self.error = error
            self.report(error)
        self.closed = True
        self.wake_all()
        # Nothing more will be heard: let go of the listeners and what they hold.
        self.change_listeners.clear()
        self.event_listeners.clear()
        self.any_event_listeners.clear()
        self.error_listeners.clear()
        self.gap_listeners.clear()
        self.feed_listeners.clear()

    def drifted(self, drift: StateDrift) -> None:
        """A drift check repaired the room: tell the error listeners (the state is fine now)."""
        self.report(drift)

    def wake_all(self) -> None:
        """End every iterator's wait (they then see ``closed`` or ``error``)."""
        for queue in self.waiters:
            queue.put_nowait(CLOSED)
        for queue in self.feed_waiters:
            queue.put_nowait(CLOSED)

    def report(self, error: MotiaError) -> None:
        """Tell the error listeners (or the log, when there are none)."""
        if not self.error_listeners:
            logger.warning("%s: %s", self.name, error)
        self.error_listeners.emit(error)
