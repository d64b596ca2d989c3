"""The four observables that mirror ``@motiadev/stream-client-react``'s hooks.

Each call returns a new observable. Its observers share one client
subscription (one join), started when the first one subscribes and closed (the
leave) when the last one disposes; late observers get the current state at
once; a refused join arrives as ``on_error``; the client's close completes it
(its failure errors it). Values are emitted on the client's loop (the private
thread of a :class:`~motia_client.StreamClient`) unless ``scheduler=`` moves
them; ``conflate=`` limits them to the latest one per interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler

from motia_client._blocking import StreamClient
from motia_client._client import AsyncStreamClient
from motia_client._exceptions import (
    ItemValidationError,
    MotiaConnectionError,
    MotiaError,
    SubscriptionRefused,
)
from motia_client._feed import ItemChange
from motia_client._items import Items
from motia_client._lifecycle import ConnectionState, StateChange
from motia_client._loop import Bridge
from motia_client._subscription import Subscription
from motia_client.rx._conflate import conflate as conflate_operator
from motia_client.rx._shared import SharedSource, Sink, Start

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "StreamObservable",
    "use_item_changes",
    "use_motia_stream",
    "use_stream_event_handler",
    "use_stream_group",
    "use_stream_item",
]

logger = logging.getLogger("motia_client")
T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")
Client = AsyncStreamClient | StreamClient


class _Hooked:
    """A client as the hooks use it: its bridge, and the asyncio client that holds the state."""

    def __init__(self, client: Client) -> None:
        if isinstance(client, StreamClient):
            self.client = client.async_client
        elif isinstance(client, AsyncStreamClient):
            self.client = client
        else:
            raise TypeError(
                f"expected an AsyncStreamClient or a StreamClient, got {type(client).__name__}"
            )
        self.bridge = Bridge(client)


class StreamObservable(Observable[T]):
    """A reactivex ``Observable`` from :mod:`motia_client.rx` that also shows itself in Jupyter.

    ``kind`` says what it emits: ``"item"``, ``"group"``, ``"event"``,
    ``"changes"``, ``"state"`` or ``"pair"`` (``(items, is_connected)``).
    """

    def __init__(self, source: Observable[T], *, kind: str, title: str, bridge: Bridge) -> None:
        self._source = source
        self.kind = kind
        self.title = title
        self._bridge = bridge
        super().__init__(self._subscribe_source)

    def _subscribe_source(
        self, observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return self._source.subscribe(observer, scheduler=scheduler)

    def _ipython_display_(self, **options: Any) -> None:
        """Subscribe and show the values live (throttled) until the observable ends.

        ``options`` go to the display (``publisher``, ``throttle``): tests use them.
        """
        from motia_client import _notebook  # imported only when displaying

        _notebook.display_observable(self, self._bridge, self.kind, self.title, **options)

    def __repr__(self) -> str:
        return f"<StreamObservable {self.kind} {self.title}>"


# -- the hooks ------------------------------------------------------------------------


@overload
def use_stream_item(
    client: Client,
    stream: str,
    group_id: str,
    item_id: str,
    *,
    model: type[M],
    scheduler: abc.SchedulerBase | None = None,
    conflate: float | None = None,
) -> StreamObservable[M | None]: ...
@overload
def use_stream_item(
    client: Client,
    stream: str,
    group_id: str,
    item_id: str,
    *,
    model: None = None,
    scheduler: abc.SchedulerBase | None = None,
    conflate: float | None = None,
) -> StreamObservable[dict[str, Any] | None]: ...
def use_stream_item(
    client: Client,
    stream: str,
    group_id: str,
    item_id: str,
    *,
    model: type[BaseModel] | None = None,
    scheduler: abc.SchedulerBase | None = None,
    conflate: float | None = None,
) -> StreamObservable[Any]:
    """An observable of one stream item: the item (a dict, or ``model``), or ``None``.

    Like ``useStreamItem``: emits once the item's first state arrives, then on
    every change.
    """
    hooked = _Hooked(client)
    title = f"{stream}/{group_id}/{item_id}"

    def open_item(c: AsyncStreamClient) -> Subscription[Any]:
        return c.subscribe_item(stream, group_id, item_id, model=model)

    source = _state_source(hooked, open_item, title)
    return _finish(source, hooked, "item", title, scheduler, conflate)


@overload
def use_stream_group(
    client: Client,
    stream: str,
    group_id: str,
    *,
    sort_key: str | None = None,
    model: type[M],
    scheduler: abc.SchedulerBase | None = None,
    conflate: float | None = None,
) -> StreamObservable[Items[M]]: ...
@overload
def use_stream_group(
    client: Client,
    stream: str,
    group_id: str,
    *,
    sort_key: str | None = None,
    model: None = None,
    scheduler: abc.SchedulerBase | None = None,
    conflate: float | None = None,
) -> StreamObservable[Items[dict[str, Any]]]: ...
def use_stream_group(
    client: Client,
    stream: str,
    group_id: str,
    *,
    sort_key: str | None = None,
    model: type[BaseModel] | None = None,
    scheduler: abc.SchedulerBase | None = None,
    conflate: float | None = None,
) -> StreamObservable[Items[Any]]:
    """An observable of a group's items, in order (by ``sort_key`` if given).

    Like ``useStreamGroup``: emits an immutable :class:`~motia_client.Items`
    snapshot once the group's first sync arrives, then on every change.
    """
    hooked = _Hooked(client)
    title = f"{stream}/{group_id}"
    source = _group_source(hooked, stream, group_id, sort_key, model)
    return _finish(source, hooked, "group", title, scheduler, conflate)


def use_item_changes(
    client: Client,
    stream: str,
    group_id: str,
    item_id: str | None = None,
    *,
    model: type[BaseModel] | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> StreamObservable[ItemChange[Any]]:
    """An observable of a group's (or one item's) :class:`~motia_client.ItemChange` feed.

    Each observer first gets an ``added`` for each item held, then one change per
    real change (the net difference after a reconnect, with ``resync=True``).
    """
    hooked = _Hooked(client)
    title = f"{stream}/{group_id}" + (f"/{item_id}" if item_id is not None else "")

    def start(sink: Sink[Any]) -> Callable[[], None]:
        def open_sub(c: AsyncStreamClient) -> Subscription[Any]:
            if item_id is not None:
                return c.subscribe_item(stream, group_id, item_id, model=model)
            return c.subscribe_group(stream, group_id, model=model)

        return _start_subscription(
            hooked, sink, open_sub, title, lambda sub: [sub.on_item_change(sink.on_next)]
        )

    # Not shared: a late observer needs its own "added" for the items held.
    source: Observable[ItemChange[Any]] = reactivex.defer(
        lambda _: _shared(hooked, start, _complete, replay=False, name=f"{title} item changes")
    )
    return _finish(source, hooked, "changes", f"{title} · changes", scheduler, None)


def use_stream_event_handler(
    client: Client,
    stream: str,
    group_id: str,
    event_type: str,
    *,
    item_id: str | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> StreamObservable[Any]:
    """An observable of one custom event's data, on a group (or on one item).

    Like ``useStreamEventHandler``. Events are not state: nothing is replayed
    to a late observer, and events sent while disconnected are lost; when that
    may have happened, an :class:`~motia_client.EventGap` is emitted (a distinct
    value: filter it out, or react to it).
    """
    hooked = _Hooked(client)
    title = f"{stream}/{group_id}" + (f"/{item_id}" if item_id is not None else "")

    def start(sink: Sink[Any]) -> Callable[[], None]:
        def open_sub(c: AsyncStreamClient) -> Subscription[Any]:
            if item_id is not None:
                return c.subscribe_item(stream, group_id, item_id)
            return c.subscribe_group(stream, group_id)

        def wire(sub: Subscription[Any]) -> list[Callable[[], None]]:
            return [sub.on_event(event_type, sink.on_next), sub.on_event_gap(sink.on_next)]

        return _start_subscription(hooked, sink, open_sub, title, wire)

    source = _shared(hooked, start, _complete, replay=False, name=f"{title} {event_type!r} events")
    return _finish(source, hooked, "event", f"{title} · {event_type}", scheduler, None)


@overload
def use_motia_stream(
    client: Client,
    *,
    scheduler: abc.SchedulerBase | None = None,
    conflate: float | None = None,
) -> StreamObservable[ConnectionState]: ...
@overload
def use_motia_stream(
    client: Client,
    stream: str,
    group_id: str,
    *,
    sort_key: str | None = None,
    model: type[BaseModel] | None = None,
    scheduler: abc.SchedulerBase | None = None,
    conflate: float | None = None,
) -> StreamObservable[tuple[Items[Any], bool]]: ...
def use_motia_stream(
    client: Client,
    stream: str | None = None,
    group_id: str | None = None,
    *,
    sort_key: str | None = None,
    model: type[BaseModel] | None = None,
    scheduler: abc.SchedulerBase | None = None,
    conflate: float | None = None,
) -> StreamObservable[Any]:
    """The connection state, or a group's ``(items, is_connected)`` like ``useMotiaStream``.

    ``use_motia_stream(client)`` emits the current :class:`ConnectionState`
    first, then each change; it completes after a terminal state (``closed``,
    or ``failed``: the reason is ``client.error``).

    ``use_motia_stream(client, stream, group_id)`` emits ``(items,
    is_connected)`` once the group's first sync arrives, then whenever the
    items change or the connection opens or drops (the items are kept while
    disconnected, and replaced by the resync).
    """
    hooked = _Hooked(client)
    if stream is None and group_id is None:
        title = "connection"
        return _finish(_connection_source(hooked), hooked, "state", title, scheduler, conflate)
    if stream is None or group_id is None:
        raise TypeError("use_motia_stream needs both stream and group_id, or neither")
    title = f"{stream}/{group_id}"
    items = _group_source(hooked, stream, group_id, sort_key, model)
    connected: Observable[bool] = _connection_source(hooked).pipe(
        ops.map(_is_open), ops.distinct_until_changed()
    )
    pairs: Observable[tuple[Items[Any], bool]] = reactivex.combine_latest(items, connected)
    return _finish(pairs, hooked, "pair", title, scheduler, conflate)


# -- sources ---------------------------------------------------------------------------


def _shared(
    hooked: _Hooked,
    start: Start[T],
    gone: Callable[[abc.ObserverBase[T]], None],
    *,
    replay: bool,
    name: str,
) -> Observable[T]:
    shared = SharedSource(hooked.bridge, start, gone, replay=replay, name=name)
    return Observable(shared.subscribe)


def _complete(observer: abc.ObserverBase[Any]) -> None:
    observer.on_completed()


def _group_source(
    hooked: _Hooked,
    stream: str,
    group_id: str,
    sort_key: str | None,
    model: type[BaseModel] | None,
) -> Observable[Items[Any]]:
    def open_group(c: AsyncStreamClient) -> Subscription[Any]:
        return c.subscribe_group(stream, group_id, sort_key=sort_key, model=model)

    return _state_source(hooked, open_group, f"{stream}/{group_id}")


def _state_source(
    hooked: _Hooked, open_sub: Callable[[AsyncStreamClient], Subscription[Any]], name: str
) -> Observable[Any]:
    """The state of a subscription: emitted once synced, then after every change.

    The listener rule does the first emission: a listener added to a synced
    subscription (a room another local subscriber follows) is called at once.
    """

    def start(sink: Sink[Any]) -> Callable[[], None]:
        def wire(sub: Subscription[Any]) -> list[Callable[[], None]]:
            return [sub.add_change_listener(lambda _: sink.on_next(sub.frozen_state()))]

        return _start_subscription(hooked, sink, open_sub, name, wire)

    return _shared(hooked, start, _complete, replay=True, name=name)


def _start_subscription(
    hooked: _Hooked,
    sink: Sink[Any],
    open_sub: Callable[[AsyncStreamClient], Subscription[Any]],
    name: str,
    wire: Callable[[Subscription[Any]], list[Callable[[], None]]],
) -> Callable[[], None]:
    """Open a client subscription feeding ``sink``; return the function that closes it."""
    client = hooked.client
    if _ended(client, sink):
        return _nothing
    sub = open_sub(client)

    def on_error(error: MotiaError) -> None:
        if isinstance(error, SubscriptionRefused):
            sink.on_error(error)
        elif isinstance(error, ItemValidationError):
            logger.warning("%s: %s (the item is skipped)", name, error)

    removers = [sub.on_error(on_error), _end_with_client(client, sink)]
    if sub.error is not None:  # a room refused already: refused at once
        sink.on_error(sub.error)
    removers += wire(sub)

    def stop() -> None:
        for remove in removers:
            remove()
        if not sub.closed and not client.state.is_terminal:
            client.spawn(sub.close(), "leave")

    return stop


def _connection_source(hooked: _Hooked) -> Observable[ConnectionState]:
    def start(sink: Sink[ConnectionState]) -> Callable[[], None]:
        client = hooked.client
        last = client.state

        def changed(change: StateChange) -> None:
            nonlocal last
            if change.state is not last:
                last = change.state
                sink.on_next(change.state)
            if change.state.is_terminal:
                sink.on_completed()

        remove = client.on_state_change(changed)
        sink.on_next(last)
        if last.is_terminal:
            sink.on_completed()
        return remove

    def gone(observer: abc.ObserverBase[ConnectionState]) -> None:
        observer.on_next(ConnectionState.CLOSED)
        observer.on_completed()

    return _shared(hooked, start, gone, replay=True, name="connection state")


def _ended(client: AsyncStreamClient, sink: Sink[Any]) -> bool:
    """End ``sink`` if the client already ended; return whether it had."""
    state = client.state
    if state is ConnectionState.CLOSED:
        sink.on_completed()
    elif state is ConnectionState.FAILED:
        sink.on_error(_failure(client))
    return state.is_terminal


def _end_with_client(client: AsyncStreamClient, sink: Sink[Any]) -> Callable[[], None]:
    """Complete ``sink`` when the client closes, error it when the client fails."""

    def changed(change: StateChange) -> None:
        if change.state is ConnectionState.CLOSED:
            sink.on_completed()
        elif change.state is ConnectionState.FAILED:
            sink.on_error(_failure(client))

    return client.on_state_change(changed)


def _failure(client: AsyncStreamClient) -> Exception:
    return client.error or MotiaConnectionError("the stream client failed")


def _is_open(state: ConnectionState) -> bool:
    return state is ConnectionState.OPEN


def _nothing() -> None:
    return None


def _finish(
    source: Observable[T],
    hooked: _Hooked,
    kind: str,
    title: str,
    scheduler: abc.SchedulerBase | None,
    conflate: float | None,
) -> StreamObservable[T]:
    """Apply ``scheduler=`` (observe_on) and ``conflate=``, and wrap for display."""
    if conflate is not None and conflate < 0:
        raise ValueError("conflate must be a number of seconds >= 0 (or None)")
    bridge = hooked.bridge
    if scheduler is not None:
        source = source.pipe(ops.observe_on(scheduler))
    if conflate:
        seconds = conflate
        if scheduler is not None:
            source = source.pipe(conflate_operator(seconds, scheduler))
        else:
            upstream = source

            def on_the_loop(_: abc.SchedulerBase | None) -> Observable[T]:
                loop = bridge.loop()
                if loop is None:  # the client is gone: the source just completes
                    return upstream
                return upstream.pipe(conflate_operator(seconds, AsyncIOThreadSafeScheduler(loop)))

            source = reactivex.defer(on_the_loop)
    return StreamObservable(source, kind=kind, title=title, bridge=bridge)
