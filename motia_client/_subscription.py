"""Subscriptions: what a user holds for one stream item or group.

A subscription is the user's handle; what the session tells it goes to its
:class:`~motia_client._sink.Sink` (the session's ``SubscriberSink``), which calls
the listeners and feeds the async iterators here. Everything runs on the client's
event loop.

The listener rule, everywhere: a change listener added to a synced subscription
is called once at once with the current state (like a BehaviorSubject, or a
React component's first render); on one not yet synced it waits for the sync.
A change-feed listener added to a synced subscription first gets an ``added``
for each item it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from motia_client._exceptions import ClientClosedError, MotiaError, MotiaTimeout
from motia_client._feed import ItemChange
from motia_client._items import Items
from motia_client._loop import LoopOwner
from motia_client._session import EventGap, SubscriberSink, View
from motia_client._sink import CLOSED, Sink
from motia_client._views import GroupView

if TYPE_CHECKING:
    import pandas
    import polars
    from pydantic import BaseModel

    from motia_client._frames import FrameView, Library

__all__ = [
    "GroupSubscription",
    "ItemChange",
    "ItemSubscription",
    "Subscription",
    "SubscriptionOwner",
]

T = TypeVar("T")
S = TypeVar("S")


class SubscriptionOwner(LoopOwner, Protocol):
    """What a subscription needs from its client (``AsyncStreamClient`` implements it)."""

    def attach(
        self,
        sink: SubscriberSink,
        stream: str,
        group_id: str,
        item_id: str | None,
        sort_key: str | None,
        model: type[BaseModel] | None,
    ) -> View[Any]:
        """Subscribe ``sink`` to its room; return its view."""
        ...

    async def detach(self, sink: SubscriberSink) -> None:
        """Unsubscribe ``sink`` (the last one of a room sends the leave)."""

    def spawn(self, awaitable: Awaitable[Any], what: str) -> object:
        """Run ``awaitable`` in a task of the client (coroutine listeners)."""
        ...

    def status_hint(self) -> str:
        """Where the connection stands, in words (for a timeout message)."""
        ...


class Subscription(Generic[S]):
    """The common part of item and group subscriptions; ``S`` is the state type."""

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
        #: the pydantic model items are validated with, or ``None`` (plain dicts)
        self.model = model
        name = f"{stream}/{group_id}" + (f"/{item_id}" if item_id is not None else "")
        self._sink = sink = Sink(owner.spawn, f"subscription {name}")
        sink.view = owner.attach(sink, stream, group_id, item_id, sort_key, model)

    # -- what users read --------------------------------------------------------------

    @property
    def state(self) -> S:
        """The current state."""
        raise NotImplementedError  # pragma: no cover - overridden by both subclasses

    @property
    def synced(self) -> bool:
        """Whether the first state from the server has arrived."""
        return self._view().synced

    @property
    def error(self) -> MotiaError | None:
        """Why the subscription ended badly (a refusal, a failed client), if it did."""
        return self._sink.error

    @property
    def closed(self) -> bool:
        """Whether the subscription is closed."""
        return self._sink.closed

    def frozen_state(self) -> S:
        """The current state, fixed now: safe to hand to another task or thread."""
        frozen: S = self._view().frozen()  # the view's state type is S
        return frozen

    def _view(self) -> View[Any]:
        view = self._sink.view
        assert view is not None
        return view

    # -- listeners --------------------------------------------------------------------

    def add_change_listener(self, listener: Callable[[S], Any]) -> Callable[[], None]:
        """Call ``listener(state)`` now if synced, then after every change; return a remover."""
        listeners = self._sink.change_listeners
        remove = listeners.add(listener)
        if self.synced and not self.closed:
            listeners.call(listener, self.frozen_state())
        return remove

    def remove_change_listener(self, listener: Callable[[S], Any]) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        self._sink.change_listeners.remove(listener)

    def on_event(self, event_type: str, listener: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``listener(data)`` for each custom event ``event_type``; return a remover."""
        return self._sink.events_of(event_type).add(listener)

    def off_event(self, event_type: str, listener: Callable[[Any], Any]) -> None:
        """Stop calling ``listener`` for ``event_type``."""
        listeners = self._sink.event_listeners.get(event_type)
        if listeners is not None:
            listeners.remove(listener)

    def on_any_event(self, listener: Callable[[str, Any], Any]) -> Callable[[], None]:
        """Call ``listener(event_type, data)`` for every custom event; return a remover."""
        return self._sink.any_event_listeners.add(listener)

    def off_any_event(self, listener: Callable[[str, Any], Any]) -> None:
        """Stop calling ``listener`` for every custom event."""
        self._sink.any_event_listeners.remove(listener)

    def on_error(self, listener: Callable[[MotiaError], Any]) -> Callable[[], None]:
        """Call ``listener(error)`` for a refusal, an invalid item or the client's failure."""
        return self._sink.error_listeners.add(listener)

    def off_error(self, listener: Callable[[MotiaError], Any]) -> None:
        """Stop calling ``listener`` for errors."""
        self._sink.error_listeners.remove(listener)

    def on_event_gap(self, listener: Callable[[EventGap], Any]) -> Callable[[], None]:
        """Call ``listener(gap)`` when custom events may have been missed; return a remover."""
        return self._sink.gap_listeners.add(listener)

    def off_event_gap(self, listener: Callable[[EventGap], Any]) -> None:
        """Stop calling ``listener`` for event gaps."""
        self._sink.gap_listeners.remove(listener)

    def on_item_change(self, listener: Callable[[ItemChange[Any]], Any]) -> Callable[[], None]:
        """Call ``listener(change)`` once per item change (the change feed); return a remover.

        Added to a synced subscription, it first gets an ``added`` per item held.
        """
        sink = self._sink
        remove = sink.feed_listeners.add(listener)
        sink.track()
        if self.synced and not self.closed:
            for change in self._current_as_added():
                sink.feed_listeners.call(listener, change)

        def remover() -> None:
            remove()
            sink.track()

        return remover

    def off_item_change(self, listener: Callable[[ItemChange[Any]], Any]) -> None:
        """Stop calling ``listener`` for item changes."""
        self._sink.feed_listeners.remove(listener)
        self._sink.track()

    def _current_as_added(self) -> list[ItemChange[Any]]:
        raise NotImplementedError  # pragma: no cover - overridden by both subclasses

    # -- waiting ----------------------------------------------------------------------

    def changes(self) -> AsyncGenerator[S, None]:
        """Yield the current state (once synced), then the state after each change.

        Ends when the subscription or client closes; raises the error that
        ended it (a refusal, a failed client).
        """
        return self._follow(self._sink.waiters, lambda: [self.frozen_state()])

    def item_changes(self) -> AsyncGenerator[ItemChange[Any], None]:
        """Yield each item change (the change feed), starting with the items held now.

        Ends when the subscription or client closes; raises the error that ended it.
        """
        return self._follow(self._sink.feed_waiters, self._current_as_added)

    async def _follow(
        self, waiters: list[Any], current: Callable[[], list[Any]]
    ) -> AsyncGenerator[Any, None]:
        """What both iterators do: yield ``current()`` once synced, then what ``waiters`` get.

        Returned as is (not wrapped in another generator), so that ``aclose()`` runs
        this ``finally`` at once.
        """
        self._raise_if_ended()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        sink = self._sink
        waiters.append(queue)
        sink.track()
        try:
            if self.synced:
                for value in current():
                    yield value
            while True:  # an end while the caller holds a value arrives as CLOSED too
                item = await queue.get()
                if item is CLOSED:
                    self._raise_if_ended(closed_ok=True)
                    return
                yield item
        finally:
            if queue in waiters:
                waiters.remove(queue)
            sink.track()

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
            raise ClientClosedError(f"{self._sink.name} closed before the condition held")

        try:
            return await asyncio.wait_for(run(), timeout)
        except asyncio.TimeoutError:
            raise MotiaTimeout(
                f"{self._sink.name}: condition not met within {timeout:g}s "
                f"({self._owner.status_hint()})"
            ) from None

    async def close(self) -> None:
        """Stop receiving; the last local subscriber of a room sends the leave."""
        if not self.closed:
            await self._owner.detach(self._sink)

    async def __aenter__(self) -> Subscription[S]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _raise_if_ended(self, closed_ok: bool = False) -> None:
        error = self._sink.error
        if error is not None:
            raise error
        if self.closed and not closed_ok:
            raise ClientClosedError(f"{self._sink.name} is closed")

    def __repr__(self) -> str:
        status = "closed" if self.closed else ("synced" if self.synced else "waiting")
        return f"<{type(self).__name__} {self._sink.name[13:]} {status}>"

    # -- DataFrames (pandas and polars are imported only when asked for) ------------------

    def to_pandas(self) -> pandas.DataFrame:
        """The items as a ``pandas.DataFrame``: one row per item, in order, indexed by id.

        Needs the ``[pandas]`` extra (an ``ImportError`` says so). See ``docs/notebooks.md``
        for the columns.
        """
        from motia_client import _frames

        _frames.require("pandas", "to_pandas()")
        return _frames.to_pandas(_frames.rows(self))

    def to_polars(self) -> polars.DataFrame:
        """The items as a ``polars.DataFrame``: an ``id`` column, then one per field.

        Needs the ``[polars]`` extra (an ``ImportError`` says so).
        """
        from motia_client import _frames

        _frames.require("polars", "to_polars()")
        return _frames.to_polars(_frames.rows(self))

    def frame_view(self, library: Library = "pandas", *, max_rows: int = 50) -> FrameView:
        """A live DataFrame display (Jupyter) of the first ``max_rows`` items.

        Leave it as a cell's value: it is updated in place as the stream changes,
        like the subscription's own display. ``library`` is ``"pandas"`` or ``"polars"``.
        """
        from motia_client._frames import FrameView

        return FrameView(self, self._owner, library, max_rows)

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
        value: T | None = self._view().snapshot()  # an ItemView's
        return value

    def _current_as_added(self) -> list[ItemChange[Any]]:
        value = self._view().snapshot()
        item_id = self.item_id
        assert item_id is not None  # an item subscription's
        return [] if value is None else [ItemChange("added", item_id, None, value)]


class GroupSubscription(Subscription[Items[T]], Generic[T]):
    """A subscription to a stream group: ``state`` is the items, in order."""

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

    def _group(self) -> GroupView[T]:
        view = self._view()
        assert isinstance(view, GroupView)
        return view

    @property
    def state(self) -> Items[T]:
        """The items in order, as an immutable snapshot (built only when read)."""
        return self._group().snapshot()

    @property
    def items_by_id(self) -> Mapping[str, T]:
        """A read-only live mapping of id to item: O(1) lookups, valid as the group changes."""
        return types.MappingProxyType(self._group().by_id)

    @property
    def ids(self) -> tuple[str, ...]:
        """The items' ids, in the order of :attr:`state` (a new tuple per read: O(N))."""
        return self._group().ordered_ids()

    def __len__(self) -> int:
        return len(self._group())

    def _current_as_added(self) -> list[ItemChange[Any]]:
        return [ItemChange("added", key, None, item) for key, item in self._group().by_id.items()]
