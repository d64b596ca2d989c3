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
from typing import Any, TypeVar, overload

import reactivex
from pydantic import BaseModel
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler

from motia_client._client import AsyncStreamClient
from motia_client._exceptions import (
    ItemValidationError,
    MotiaConnectionError,
    MotiaError,
    SubscriptionRefused,
)
from motia_client._lifecycle import ConnectionState, StateChange
from motia_client._subscription import Subscription
from motia_client._views import Items
from motia_client.rx._conflate import conflate as conflate_operator
from motia_client.rx._shared import Bridge, Client, SharedSource, Sink, Start

__all__ = [
    "StreamObservable",
    "use_motia_stream",
    "use_stream_event_handler",
    "use_stream_group",
    "use_stream_item",
]

logger = logging.getLogger("motia_client")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class StreamObservable(Observable[T]):
    """A reactivex ``Observable`` from :mod:`motia_client.rx` that also shows itself in Jupyter.

    ``kind`` says what it emits: ``"item"``, ``"group"``, ``"event"``,
    ``"state"`` or ``"pair"`` (``(items, is_connected)``).
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

    def _ipython_display_(self) -> None:
        """Subscribe and show the values live (throttled) until the observable ends."""
        from motia_client import _notebook  # imported only when displaying

        _notebook.display_observable(self)

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
    bridge = Bridge(client)
    title = f"{stream}/{group_id}/{item_id}"

    def open_item(c: AsyncStreamClient) -> Subscription[Any]:
        return c.subscribe_item(stream, group_id, item_id, model=model)

    source = _state_source(bridge, open_item, title)
    return _finish(source, bridge, "item", title, scheduler, conflate)


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
    bridge = Bridge(client)
    title = f"{stream}/{group_id}"
    source = _group_source(bridge, stream, group_id, sort_key, model)
    return _finish(source, bridge, "group", title, scheduler, conflate)


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
    to a late observer, and events sent while disconnected are lost.
    """
    bridge = Bridge(client)
    title = f"{stream}/{group_id}" + (f"/{item_id}" if item_id is not None else "")

    def start(sink: Sink[Any]) -> Callable[[], None]:
        def open_sub(c: AsyncStreamClient) -> Subscription[Any]:
            if item_id is not None:
                return c.subscribe_item(stream, group_id, item_id)
            return c.subscribe_group(stream, group_id)

        return _start_subscription(
            bridge, sink, open_sub, title, lambda sub: [sub.on_event(event_type, sink.on_next)]
        )

    source = _shared(bridge, start, _complete, replay=False, name=f"{title} {event_type!r} events")
    return _finish(source, bridge, "event", f"{title} · {event_type}", scheduler, None)


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
    bridge = Bridge(client)
    if stream is None and group_id is None:
        title = "connection"
        return _finish(_connection_source(bridge), bridge, "state", title, scheduler, conflate)
    if stream is None or group_id is None:
        raise TypeError("use_motia_stream needs both stream and group_id, or neither")
    title = f"{stream}/{group_id}"
    items = _group_source(bridge, stream, group_id, sort_key, model)
    connected: Observable[bool] = _connection_source(bridge).pipe(
        ops.map(_is_open), ops.distinct_until_changed()
    )
    pairs: Observable[tuple[Items[Any], bool]] = reactivex.combine_latest(items, connected)
    return _finish(pairs, bridge, "pair", title, scheduler, conflate)


# -- sources ---------------------------------------------------------------------------


def _shared(
    bridge: Bridge,
    start: Start[T],
    gone: Callable[[abc.ObserverBase[T]], None],
    *,
    replay: bool,
    name: str,
) -> Observable[T]:
    shared = SharedSource(bridge, start, gone, replay=replay, name=name)
    return Observable(shared.subscribe)


def _complete(observer: abc.ObserverBase[Any]) -> None:
    observer.on_completed()


def _group_source(
    bridge: Bridge,
    stream: str,
    group_id: str,
    sort_key: str | None,
    model: type[BaseModel] | None,
) -> Observable[Items[Any]]:
    def open_group(c: AsyncStreamClient) -> Subscription[Any]:
        return c.subscribe_group(stream, group_id, sort_key=sort_key, model=model)

    return _state_source(bridge, open_group, f"{stream}/{group_id}")


def _state_source(
    bridge: Bridge, open_sub: Callable[[AsyncStreamClient], Subscription[Any]], name: str
) -> Observable[Any]:
    """The state of a subscription: emitted once synced, then after every change."""

    def start(sink: Sink[Any]) -> Callable[[], None]:
        def wire(sub: Subscription[Any]) -> list[Callable[[], None]]:
            remove = sub.add_change_listener(lambda _: sink.on_next(sub._frozen_state()))
            if sub.synced:  # the room was already synced for another local subscriber
                sink.on_next(sub._frozen_state())
            return [remove]

        return _start_subscription(bridge, sink, open_sub, name, wire)

    return _shared(bridge, start, _complete, replay=True, name=name)


def _start_subscription(
    bridge: Bridge,
    sink: Sink[Any],
    open_sub: Callable[[AsyncStreamClient], Subscription[Any]],
    name: str,
    wire: Callable[[Subscription[Any]], list[Callable[[], None]]],
) -> Callable[[], None]:
    """Open a client subscription feeding ``sink``; return the function that closes it."""
    client = bridge.client
    if _ended(client, sink):
        return _nothing
    sub = open_sub(client)

    def on_error(error: MotiaError) -> None:
        if isinstance(error, SubscriptionRefused):
            sink.on_error(error)
        elif isinstance(error, ItemValidationError):
            logger.warning("%s: %s (the item is skipped)", name, error)

    removers = [sub.on_error(on_error), _end_with_client(client, sink)]
    removers += wire(sub)

    def stop() -> None:
        for remove in removers:
            remove()
        if not sub.closed and not client.state.is_terminal:
            client._spawn(sub.close(), "leave")

    return stop


def _connection_source(bridge: Bridge) -> Observable[ConnectionState]:
    def start(sink: Sink[ConnectionState]) -> Callable[[], None]:
        client = bridge.client
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

    return _shared(bridge, start, gone, replay=True, name="connection state")


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
    bridge: Bridge,
    kind: str,
    title: str,
    scheduler: abc.SchedulerBase | None,
    conflate: float | None,
) -> StreamObservable[T]:
    """Apply ``scheduler=`` (observe_on) and ``conflate=``, and wrap for display."""
    if conflate is not None and conflate < 0:
        raise ValueError("conflate must be a number of seconds >= 0 (or None)")
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
