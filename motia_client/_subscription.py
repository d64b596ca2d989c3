"""Subscriptions: what a user holds for one stream item or group.

A subscription reads its state from its view (``_views``) and hears from the
client when that state changed, a custom event arrived, the join was refused
or the client ended. Listeners may be plain functions or coroutine functions;
one that raises is logged on the ``motia_client`` logger and the others still
run. Everything here runs on the client's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import types
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from motia_client._exceptions import ClientClosedError, MotiaError, MotiaTimeout
from motia_client._fanout import Fanout
from motia_client._views import GroupView, Items, ItemView

if TYPE_CHECKING:
    from motia_client._client import AsyncStreamClient

__all__ = ["GroupSubscription", "ItemSubscription", "Subscription"]

logger = logging.getLogger("motia_client")
T = TypeVar("T")
S = TypeVar("S")
Listener = Callable[..., Any]
_CLOSED = object()  # queue sentinel: the subscription ended


def _ended(errors: Any) -> None:
    """What an ended subscription's fanout calls instead of it: nothing is heard any more."""


class Subscription(Generic[S]):
    """The common part of item and group subscriptions; ``S`` is the state type."""

    def __init__(self, client: AsyncStreamClient, stream: str, group_id: str, item_id: str | None):
        self._client = client
        self.stream = stream
        self.group_id = group_id
        self.item_id = item_id
        self._change_listeners: list[Listener] = []
        self._event_listeners: dict[str, list[Listener]] = {}
        self._any_event_listeners: list[Listener] = []
        self._error_listeners: list[Listener] = []
        self._waiters: list[asyncio.Queue[Any]] = []
        self._current: Callable[[], S]  # the state now, for listeners (set by _attach)
        # What the per-frame path (compiled) calls; it shares the two lists above.
        self._fanout = Fanout(self._change_listeners, self._waiters, self._changed, client._spawn)
        self.closed = False

    @property
    def error(self) -> MotiaError | None:
        """Why the subscription ended, if it ended badly (a refusal, a failed client)."""
        error: MotiaError | None = self._fanout.error
        return error

    @error.setter
    def error(self, error: MotiaError | None) -> None:
        self._fanout.error = error

    # -- what users read --------------------------------------------------------

    @property
    def state(self) -> S:
        """The current state."""
        raise NotImplementedError  # pragma: no cover - overridden by both subclasses

    @property
    def synced(self) -> bool:
        """Whether the first state from the server has arrived."""
        raise NotImplementedError  # pragma: no cover - overridden by both subclasses

    # -- listeners ------------------------------------------------------------

    def add_change_listener(self, listener: Callable[[S], Any]) -> Callable[[], None]:
        """Call ``listener(state)`` after every change; return a function that removes it."""
        self._change_listeners.append(listener)
        return lambda: self.remove_change_listener(listener)

    def remove_change_listener(self, listener: Callable[[S], Any]) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        if listener in self._change_listeners:
            self._change_listeners.remove(listener)

    def on_event(self, event_type: str, listener: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``listener(data)`` for each custom event ``event_type``; return a remover."""
        self._event_listeners.setdefault(event_type, []).append(listener)
        return lambda: self.off_event(event_type, listener)

    def off_event(self, event_type: str, listener: Callable[[Any], Any]) -> None:
        """Stop calling ``listener`` for ``event_type``."""
        listeners = self._event_listeners.get(event_type)
        if listeners and listener in listeners:
            listeners.remove(listener)

    def on_any_event(self, listener: Callable[[str, Any], Any]) -> Callable[[], None]:
        """Call ``listener(event_type, data)`` for every custom event; return a remover."""
        self._any_event_listeners.append(listener)
        return lambda: self.off_any_event(listener)

    def off_any_event(self, listener: Callable[[str, Any], Any]) -> None:
        """Stop calling ``listener`` for every custom event."""
        if listener in self._any_event_listeners:
            self._any_event_listeners.remove(listener)

    def on_error(self, listener: Callable[[MotiaError], Any]) -> Callable[[], None]:
        """Call ``listener(error)`` for a refusal or an item that fails the model."""
        self._error_listeners.append(listener)
        return lambda: self.off_error(listener)

    def off_error(self, listener: Callable[[MotiaError], Any]) -> None:
        """Stop calling ``listener`` for errors."""
        if listener in self._error_listeners:
            self._error_listeners.remove(listener)

    # -- waiting ----------------------------------------------------------------

    async def changes(self) -> AsyncGenerator[S, None]:
        """Yield the current state (once synced), then the state after each change.

        Ends when the subscription or client closes; raises the error that
        ended it (a refusal, a failed client).
        """
        self._raise_if_ended()  # iterating an ended subscription is an error
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._waiters.append(queue)
        try:
            if self.synced:
                yield self._frozen_state()
            while True:  # an end while the caller holds a state arrives as _CLOSED too
                item = await queue.get()
                if item is _CLOSED:
                    self._raise_if_ended(closed_ok=True)
                    return
                yield item
        finally:
            if queue in self._waiters:
                self._waiters.remove(queue)

    async def wait_for(self, predicate: Callable[[S], bool], timeout: float | None = None) -> S:
        """Wait until ``predicate(state)`` is true (checked now and after each change).

        Raises :class:`MotiaTimeout` after ``timeout`` seconds, or the error
        that ended the subscription.
        """

        async def run() -> S:
            async with contextlib.aclosing(self.changes()) as changes:
                async for state in changes:
                    if predicate(state):
                        return state
            raise ClientClosedError("the subscription closed before the condition held")

        try:
            return await asyncio.wait_for(run(), timeout)
        except asyncio.TimeoutError:
            raise MotiaTimeout(f"{self._name()}: condition not met within {timeout}s") from None

    async def close(self) -> None:
        """Stop receiving; the last local subscriber of a room sends the leave."""
        if not self.closed:
            await self._client._unsubscribe(self)

    async def __aenter__(self) -> Subscription[S]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- what the client calls ----------------------------------------------------

    def _changed(self, errors: list[Any] | None) -> None:
        """The state changed: report ``errors``, call every listener, wake every waiter.

        The general case; the usual one (one listener, no waiter, no errors) is
        :meth:`Fanout.changed <motia_client._fanout.Fanout.changed>`, compiled.
        """
        self.error = None  # state flows again (e.g. rejoined with a new token)
        if errors:
            for error in errors:
                self._report(error)
        listeners = self._change_listeners
        if listeners:  # no listener: no snapshot to build
            state = self._current()
            for listener in tuple(listeners):
                self._client._call(listener, state)
        if self._waiters:
            frozen = self._frozen_state()
            for queue in self._waiters:
                queue.put_nowait(frozen)

    def _event(self, event_type: str, data: Any) -> None:
        for listener in tuple(self._event_listeners.get(event_type, ())):
            self._client._call(listener, data)
        for listener in tuple(self._any_event_listeners):
            self._client._call(listener, event_type, data)

    def _report(self, error: MotiaError) -> None:
        if not self._error_listeners:
            logger.warning("%s: %s", self._name(), error)
        for listener in tuple(self._error_listeners):
            self._client._call(listener, error)

    def _refuse(self, error: MotiaError) -> None:
        """The server refused the join: report it and end every waiter with it."""
        self.error = error
        self._report(error)
        for queue in self._waiters:
            queue.put_nowait(_CLOSED)

    def _end(self, error: MotiaError | None) -> None:
        """The subscription ended (closed, refused or the client failed)."""
        if error is not None and self.error is None:
            self.error = error
            self._report(error)
        self.closed = True
        for queue in self._waiters:
            queue.put_nowait(_CLOSED)
        # Nothing more will be heard: let go of the listeners and what they hold,
        # and of the fanout's way back here (freed at once, not by a later collection).
        self._change_listeners.clear()
        self._event_listeners.clear()
        self._any_event_listeners.clear()
        self._error_listeners.clear()
        self._fanout.general = _ended

    def _raise_if_ended(self, closed_ok: bool = False) -> None:
        if self.error is not None:
            raise self.error
        if self.closed and not closed_ok:
            raise ClientClosedError(f"{self._name()} is closed")

    def _frozen_state(self) -> S:
        return self.state

    def _name(self) -> str:
        path = f"{self.stream}/{self.group_id}"
        return (
            f"subscription {path}/{self.item_id}"
            if self.item_id is not None
            else (f"subscription {path}")
        )

    def __repr__(self) -> str:
        status = "closed" if self.closed else ("synced" if self.synced else "waiting")
        return f"<{type(self).__name__} {self._name()[13:]} {status}>"

    # -- notebooks (IPython is imported only when displaying) ------------------------

    def _repr_html_(self) -> str:
        from motia_client import _notebook

        return _notebook.subscription_html(self)

    def _ipython_display_(self) -> None:
        """In Jupyter: show the state live (a table or a card), updated as it changes."""
        from motia_client import _notebook

        _notebook.display_subscription(self)


class ItemSubscription(Subscription[Any], Generic[T]):
    """A subscription to one stream item: ``state`` is the item, or ``None``."""

    _view: ItemView[T]

    def _attach(self, view: ItemView[T]) -> None:
        self._view = self._fanout.view = view
        self._current = lambda: view.value

    @property
    def state(self) -> T | None:
        """The item (a dict, or a model instance with ``model=``), or ``None``."""
        return self._view.value

    @property
    def synced(self) -> bool:
        """Whether the item's first state arrived (Motia 0.x sends none for a missing item)."""
        return self._view.synced


class GroupSubscription(Subscription[Items[Any]], Generic[T]):
    """A subscription to a stream group: ``state`` is the items, in order."""

    _view: GroupView[T]

    def __init__(self, client: AsyncStreamClient, stream: str, group_id: str) -> None:
        super().__init__(client, stream, group_id, None)

    def _attach(self, view: GroupView[T]) -> None:
        self._view = self._fanout.view = view
        self._current = view.snapshot

    @property
    def state(self) -> Items[T]:
        """The items in order, as an immutable snapshot (built only when read)."""
        return self._view.snapshot()

    @property
    def synced(self) -> bool:
        """Whether the group's first sync arrived."""
        return self._view.synced

    @property
    def items_by_id(self) -> Mapping[str, T]:
        """A read-only live mapping of id to item: O(1) lookups, valid as the group changes."""
        return types.MappingProxyType(self._view.by_id)

    def __len__(self) -> int:
        return len(self._view)

    def _frozen_state(self) -> Items[T]:
        items = self._view.snapshot()
        items._materialize()  # handed to another task: fix its content now
        return items
