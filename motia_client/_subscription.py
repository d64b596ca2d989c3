"""Subscriptions: what a user holds for one stream item or group.

A subscription is the session's :class:`~motia_client._session.SubscriberSink`:
it reads its state from its view (``_views``) and hears from the session when
that state changed, a custom event arrived, events may have been missed, the
join was refused or the subscription ended. It turns that into listener calls
(``_listeners``), change-feed entries (:class:`ItemChange`) and values for the
async iterators. Everything here runs on the client's event loop.

The listener rule, everywhere: a change listener added to a synced subscription
is called once at once with the current state (like a BehaviorSubject, or a
React component's first render); on one not yet synced it waits for the sync.
A change-feed listener added to a synced subscription first gets an ``added``
for each item it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import types
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from motia_client._exceptions import ClientClosedError, MotiaError, MotiaTimeout
from motia_client._listeners import Listeners
from motia_client._loop import LoopOwner
from motia_client._session import EventGap, View
from motia_client._views import ChangeKind, GroupView, Items, ItemView, Recorded

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "GroupSubscription",
    "ItemChange",
    "ItemSubscription",
    "Subscription",
    "SubscriptionOwner",
]

logger = logging.getLogger("motia_client")
T = TypeVar("T")
S = TypeVar("S")
_CLOSED: Any = object()  # queue sentinel: the subscription ended


@dataclass(frozen=True)
class ItemChange(Generic[T]):
    """One item's change: what a subscriber must do to keep something of its own in step.

    ``kind`` is ``"added"``, ``"modified"`` or ``"removed"``; ``old`` and ``new``
    are the item before and after (``None`` when absent), typed with the
    subscription's ``model``; ``resync`` is true when the change comes from
    comparing a fresh sync after a reconnect (or a drift repair) with what the
    client held: the net difference, whatever happened meanwhile.
    """

    kind: ChangeKind
    id: str
    old: T | None
    new: T | None
    resync: bool = False


class SubscriptionOwner(LoopOwner, Protocol):
    """What a subscription needs from its client (``AsyncStreamClient`` implements it)."""

    def attach(
        self,
        sink: Subscription[Any],
        stream: str,
        group_id: str,
        item_id: str | None,
        sort_key: str | None,
        model: type[BaseModel] | None,
    ) -> View:
        """Subscribe ``sink`` to its room; return its view."""
        ...

    async def detach(self, sink: Subscription[Any]) -> None:
        """Unsubscribe ``sink`` (the last one of a room sends the leave)."""

    def spawn(self, awaitable: Awaitable[Any], what: str) -> object:
        """Run ``awaitable`` in a task of the client (coroutine listeners)."""
        ...

    def status_hint(self) -> str:
        """Where the connection stands, in words (for a timeout message)."""
        ...


class Subscription(Generic[S]):
    """The common part of item and group subscriptions; ``S`` is the state type."""

    _view: View

    def __init__(
        self,
        owner: SubscriptionOwner,
        stream: str,
        group_id: str,
        item_id: str | None,
        *,
        sort_key: str | None = None,
        model: type[BaseModel] | None = None,
    ) -> None:
        self._owner = owner
        self.stream = stream
        self.group_id = group_id
        self.item_id = item_id
        spawn = owner.spawn
        self._change_listeners: Listeners[Callable[[S], Any]] = Listeners(spawn)
        self._event_listeners: dict[str, Listeners[Callable[[Any], Any]]] = {}
        self._any_event_listeners: Listeners[Callable[[str, Any], Any]] = Listeners(spawn)
        self._error_listeners: Listeners[Callable[[MotiaError], Any]] = Listeners(spawn)
        self._gap_listeners: Listeners[Callable[[EventGap], Any]] = Listeners(spawn)
        self._feed_listeners: Listeners[Callable[[ItemChange[Any]], Any]] = Listeners(spawn)
        self._waiters: list[asyncio.Queue[Any]] = []
        self._feed_waiters: list[asyncio.Queue[Any]] = []
        self.error: MotiaError | None = None  #: why it ended badly (a refusal, a failed client)
        self.closed = False
        self._view = owner.attach(self, stream, group_id, item_id, sort_key, model)

    # -- what users read --------------------------------------------------------------

    @property
    def state(self) -> S:
        """The current state."""
        raise NotImplementedError  # pragma: no cover - overridden by both subclasses

    @property
    def synced(self) -> bool:
        """Whether the first state from the server has arrived."""
        return self._view.synced

    def frozen_state(self) -> S:
        """The current state, fixed now: safe to hand to another task or thread."""
        return self.state

    # -- listeners --------------------------------------------------------------------

    def add_change_listener(self, listener: Callable[[S], Any]) -> Callable[[], None]:
        """Call ``listener(state)`` now if synced, then after every change; return a remover."""
        remove = self._change_listeners.add(listener)
        if self.synced and not self.closed:
            self._change_listeners.call(listener, self.frozen_state())
        return remove

    def remove_change_listener(self, listener: Callable[[S], Any]) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        self._change_listeners.remove(listener)

    def on_event(self, event_type: str, listener: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``listener(data)`` for each custom event ``event_type``; return a remover."""
        listeners = self._event_listeners.get(event_type)
        if listeners is None:
            listeners = self._event_listeners[event_type] = Listeners(self._owner.spawn)
        return listeners.add(listener)

    def off_event(self, event_type: str, listener: Callable[[Any], Any]) -> None:
        """Stop calling ``listener`` for ``event_type``."""
        listeners = self._event_listeners.get(event_type)
        if listeners is not None:
            listeners.remove(listener)

    def on_any_event(self, listener: Callable[[str, Any], Any]) -> Callable[[], None]:
        """Call ``listener(event_type, data)`` for every custom event; return a remover."""
        return self._any_event_listeners.add(listener)

    def off_any_event(self, listener: Callable[[str, Any], Any]) -> None:
        """Stop calling ``listener`` for every custom event."""
        self._any_event_listeners.remove(listener)

    def on_error(self, listener: Callable[[MotiaError], Any]) -> Callable[[], None]:
        """Call ``listener(error)`` for a refusal, an invalid item or the client's failure."""
        return self._error_listeners.add(listener)

    def off_error(self, listener: Callable[[MotiaError], Any]) -> None:
        """Stop calling ``listener`` for errors."""
        self._error_listeners.remove(listener)

    def on_event_gap(self, listener: Callable[[EventGap], Any]) -> Callable[[], None]:
        """Call ``listener(gap)`` when custom events may have been missed; return a remover."""
        return self._gap_listeners.add(listener)

    def off_event_gap(self, listener: Callable[[EventGap], Any]) -> None:
        """Stop calling ``listener`` for event gaps."""
        self._gap_listeners.remove(listener)

    def on_item_change(self, listener: Callable[[ItemChange[Any]], Any]) -> Callable[[], None]:
        """Call ``listener(change)`` once per item change (the change feed); return a remover.

        Added to a synced subscription, it first gets an ``added`` per item held.
        """
        remove = self._feed_listeners.add(listener)
        self._track()
        if self.synced and not self.closed:
            for change in self._current_as_added():
                self._feed_listeners.call(listener, change)

        def remover() -> None:
            remove()
            self._track()

        return remover

    def off_item_change(self, listener: Callable[[ItemChange[Any]], Any]) -> None:
        """Stop calling ``listener`` for item changes."""
        self._feed_listeners.remove(listener)
        self._track()

    def _track(self) -> None:
        """The view records item changes only while someone follows the feed."""
        self._view.tracks = bool(self._feed_listeners or self._feed_waiters)

    def _current_as_added(self) -> list[ItemChange[Any]]:
        raise NotImplementedError  # pragma: no cover - overridden by both subclasses

    # -- waiting ----------------------------------------------------------------------

    async def changes(self) -> AsyncGenerator[S, None]:
        """Yield the current state (once synced), then the state after each change.

        Ends when the subscription or client closes; raises the error that
        ended it (a refusal, a failed client).
        """
        self._raise_if_ended()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._waiters.append(queue)
        try:
            if self.synced:
                yield self.frozen_state()
            while True:  # an end while the caller holds a state arrives as _CLOSED too
                item = await queue.get()
                if item is _CLOSED:
                    self._raise_if_ended(closed_ok=True)
                    return
                yield item
        finally:
            if queue in self._waiters:
                self._waiters.remove(queue)

    async def item_changes(self) -> AsyncIterator[ItemChange[Any]]:
        """Yield each item change (the change feed), starting with the items held now.

        Ends when the subscription or client closes; raises the error that ended it.
        """
        self._raise_if_ended()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._feed_waiters.append(queue)
        self._track()
        try:
            if self.synced:
                for change in self._current_as_added():
                    yield change
            while True:
                item = await queue.get()
                if item is _CLOSED:
                    self._raise_if_ended(closed_ok=True)
                    return
                yield item
        finally:
            if queue in self._feed_waiters:
                self._feed_waiters.remove(queue)
            self._track()

    async def wait_for(self, predicate: Callable[[S], bool], timeout: float | None = None) -> S:
        """Wait until ``predicate(state)`` is true (checked now and after each change).

        Raises :class:`MotiaTimeout` after ``timeout`` seconds (saying where the
        connection stands), or the error that ended the subscription.
        """

        async def run() -> S:
            async with contextlib.aclosing(self.changes()) as changes:
                async for state in changes:
                    if predicate(state):
                        return state
            raise ClientClosedError(f"{self._name()} closed before the condition held")

        try:
            return await asyncio.wait_for(run(), timeout)
        except asyncio.TimeoutError:
            raise MotiaTimeout(
                f"{self._name()}: condition not met within {timeout:g}s "
                f"({self._owner.status_hint()})"
            ) from None

    async def close(self) -> None:
        """Stop receiving; the last local subscriber of a room sends the leave."""
        if not self.closed:
            await self._owner.detach(self)

    async def __aenter__(self) -> Subscription[S]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- what the session calls (SubscriberSink) ---------------------------------------

    def changed(self, resync: bool) -> None:
        """The view changed: report its errors, tell the feed, the listeners and the waiters."""
        view = self._view
        self.error = None  # state flows again (e.g. rejoined with a new token)
        if view.errors:
            errors = list(view.errors)
            view.errors.clear()
            for error in errors:
                self._report(error)
        if view.tracks:
            self._feed(view.recorded, resync)
        if self._change_listeners:
            self._change_listeners.emit(self.state)
        if self._waiters:
            frozen = self.frozen_state()
            for queue in self._waiters:
                queue.put_nowait(frozen)

    def _feed(self, recorded: list[Recorded], resync: bool) -> None:
        changes = [ItemChange(kind, key, old, new, resync) for kind, key, old, new in recorded]
        recorded.clear()
        for change in changes:
            self._feed_listeners.emit(change)
            for queue in self._feed_waiters:
                queue.put_nowait(change)

    def event(self, event_type: str, data: Any) -> None:
        """A custom event arrived."""
        listeners = self._event_listeners.get(event_type)
        if listeners:
            listeners.emit(data)
        if self._any_event_listeners:
            self._any_event_listeners.emit(event_type, data)

    def gap(self, gap: EventGap) -> None:
        """Custom events may have been missed."""
        if self._gap_listeners:
            self._gap_listeners.emit(gap)
        else:
            logger.debug("%s: events may have been missed: %s", self._name(), gap)

    def refused(self, error: MotiaError) -> None:
        """The server refused the join: report it and end every waiter with it."""
        self.error = error
        self._report(error)
        self._wake_all()

    def ended(self, error: MotiaError | None) -> None:
        """The subscription ended (closed, or the client closed or failed)."""
        if error is not None and self.error is None:
            self.error = error
            self._report(error)
        self.closed = True
        self._wake_all()
        # Nothing more will be heard: let go of the listeners and what they hold.
        self._change_listeners.clear()
        self._event_listeners.clear()
        self._any_event_listeners.clear()
        self._error_listeners.clear()
        self._gap_listeners.clear()
        self._feed_listeners.clear()

    def _wake_all(self) -> None:
        for queue in (*self._waiters, *self._feed_waiters):
            queue.put_nowait(_CLOSED)

    def _report(self, error: MotiaError) -> None:
        if not self._error_listeners:
            logger.warning("%s: %s", self._name(), error)
        self._error_listeners.emit(error)

    def _raise_if_ended(self, closed_ok: bool = False) -> None:
        if self.error is not None:
            raise self.error
        if self.closed and not closed_ok:
            raise ClientClosedError(f"{self._name()} is closed")

    def _name(self) -> str:
        path = f"{self.stream}/{self.group_id}"
        if self.item_id is not None:
            path += f"/{self.item_id}"
        return f"subscription {path}"

    def __repr__(self) -> str:
        status = "closed" if self.closed else ("synced" if self.synced else "waiting")
        return f"<{type(self).__name__} {self._name()[13:]} {status}>"

    # -- notebooks (IPython is imported only when displaying) ---------------------------

    def _repr_html_(self) -> str:
        from motia_client import _notebook

        return _notebook.subscription_html(self, self._owner)

    def _ipython_display_(self, **options: Any) -> None:
        """In Jupyter: show the state live (a table or a card), updated as it changes.

        ``options`` go to the display (``publisher``, ``throttle``): tests use them.
        """
        from motia_client import _notebook

        _notebook.display_subscription(self, self._owner, **options)


class ItemSubscription(Subscription[T | None], Generic[T]):
    """A subscription to one stream item: ``state`` is the item, or ``None``."""

    _view: ItemView[T]
    item_id: str

    def __init__(
        self,
        owner: SubscriptionOwner,
        stream: str,
        group_id: str,
        item_id: str,
        *,
        model: type[BaseModel] | None = None,
    ) -> None:
        super().__init__(owner, stream, group_id, item_id, model=model)

    @property
    def state(self) -> T | None:
        """The item (a dict, or a model instance with ``model=``), or ``None``."""
        return self._view.value

    def _current_as_added(self) -> list[ItemChange[Any]]:
        value = self._view.value
        return [] if value is None else [ItemChange("added", self.item_id, None, value)]


class GroupSubscription(Subscription[Items[T]], Generic[T]):
    """A subscription to a stream group: ``state`` is the items, in order."""

    _view: GroupView[T]

    def __init__(
        self,
        owner: SubscriptionOwner,
        stream: str,
        group_id: str,
        *,
        sort_key: str | None = None,
        model: type[BaseModel] | None = None,
    ) -> None:
        super().__init__(owner, stream, group_id, None, sort_key=sort_key, model=model)

    @property
    def state(self) -> Items[T]:
        """The items in order, as an immutable snapshot (built only when read)."""
        return self._view.snapshot()

    def frozen_state(self) -> Items[T]:
        """The items in order, fixed now: safe to hand to another task or thread."""
        items = self._view.snapshot()
        items.materialize()
        return items

    @property
    def items_by_id(self) -> Mapping[str, T]:
        """A read-only live mapping of id to item: O(1) lookups, valid as the group changes."""
        return types.MappingProxyType(self._view.by_id)

    def __len__(self) -> int:
        return len(self._view)

    def _current_as_added(self) -> list[ItemChange[Any]]:
        return [ItemChange("added", key, None, item) for key, item in self._view.by_id.items()]
