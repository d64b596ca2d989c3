"""From a received frame to the change listeners: the per-frame path, compiled with the core.

The :class:`Dispatcher` is what a transport calls with each received message.
The usual frame (an item change in a group room, with no validation errors
and no refusals on probation) goes from the decoder through the room's
reducer and views to each subscriber's :class:`Fanout` without leaving
compiled code; every other frame is handed to the client's general delivery
(``AsyncStreamClient._deliver_all``), which handles custom events, refusals,
validation errors and probation.

A :class:`Fanout` is the part of a subscription that the per-frame path
touches: its change listeners, its waiters and its error. The subscription
keeps everything else (events, error listeners, async iteration) in Python.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from motia_client._protocol import (
    Frame,
    MalformedFrame,
    StateFrame,
    decode_message,
    item_change,
    parse,
)
from motia_client._refusals import RefusalProbation
from motia_client._rooms import Delivery, Room, Router
from motia_client._views import GroupView, ItemView

__all__ = ["Dispatcher", "Fanout"]

logger = logging.getLogger("motia_client")
Deliveries = list[Delivery | MalformedFrame]


class Fanout:
    """A subscription's change listeners and waiters, told of each change of its view.

    ``general(errors)`` is the subscription's own handler (in Python), used for
    everything but the usual case: one change listener (or none), no waiter,
    no validation errors. ``spawn(awaitable, what)`` runs a coroutine listener's result.
    """

    __slots__ = ("error", "general", "listeners", "spawn", "view", "waiters")

    def __init__(
        self,
        listeners: list[Callable[[Any], Any]],
        waiters: list[Any],
        general: Callable[[Any], None],
        spawn: Callable[[Any, str], object],
    ) -> None:
        self.listeners = listeners
        self.waiters = waiters
        self.general = general
        self.spawn = spawn
        self.view: GroupView[Any] | ItemView[Any] | None = None
        self.error: Any = None  # why the subscription ended, if it ended badly

    def changed(self) -> None:
        """The view changed without validation errors: call the listeners, wake the waiters."""
        listeners = self.listeners
        if len(listeners) > 1 or self.waiters:
            self.general(None)
            return
        self.error = None  # state flows again (e.g. rejoined with a new token)
        if not listeners:
            return  # no listener: no snapshot to build
        view = self.view
        state = view.snapshot() if isinstance(view, GroupView) else view.value  # type: ignore[union-attr]
        try:
            result = listeners[0](state)
        except Exception:
            logger.exception("a listener raised; the other listeners still run")
            return
        if result is not None and isawaitable(result):
            self.spawn(result, "listener")


class Dispatcher:
    """Decodes, applies and delivers each received frame; :meth:`dispatch` never raises.

    ``deliver_all(deliveries)`` is the client's general delivery. While refusals
    are on probation every state frame goes there too, because the first one
    must end the probation.
    """

    __slots__ = ("deliver_all", "probation", "router")

    def __init__(
        self,
        router: Router[Any],
        probation: RefusalProbation[Any],
        deliver_all: Callable[[Deliveries], None],
    ) -> None:
        self.router = router
        self.probation = probation
        self.deliver_all = deliver_all

    def dispatch(self, raw: str | bytes) -> None:
        """Hand one received frame to the subscriptions it concerns.

        Listener errors are isolated where listeners are called; anything else
        that goes wrong with one frame is logged and that frame skipped, so the
        connection (and the supervisor reading it) carries on.
        """
        try:
            router = self.router
            message = parse(raw)
            kind, stream, group, item_id, timestamp, data, key = item_change(message)
            if kind:
                room = None if self.probation.active else router.direct_room(stream, group)
                if room is not None:  # the hot path: no frame object at all
                    errors = room.change(kind, key, timestamp, data)
                    if errors is None:
                        return  # stale or an exact duplicate: nobody is told
                    if not errors:
                        _tell(room)
                        return
                state_frame = StateFrame(kind, stream, group, item_id, timestamp, data, key)  # type: ignore[arg-type]
                if room is not None:  # applied already, with validation errors to report
                    self.deliver_all([Delivery(room, state_frame, errors)])
                    return
                frame: Frame = state_frame
            else:
                frame = decode_message(message, raw)
            deliveries = router.route(raw, frame)
            if deliveries:
                self.deliver_all(deliveries)
        except Exception:
            logger.exception("internal error while handling a frame; the frame was skipped")


def _tell(room: Room[Any]) -> None:
    """Tell every subscriber of ``room`` that its view changed (no validation errors)."""
    members = room.members
    if len(members) == 1:  # the usual case: no copy of the members
        for sub in members:
            fanout: Fanout = sub._fanout
            break  # before the call: a listener may change the members
        fanout.changed()
        return
    for sub in list(members):  # a listener may unsubscribe a member
        fanout = sub._fanout
        fanout.changed()
