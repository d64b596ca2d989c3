"""One upstream per observable, shared by its observers, living on the client's loop.

This is ``share()`` plus "replay the latest value" (``replay(1)``), written out
because the upstream is not an observable but a client subscription that may
only be touched from the client's event-loop thread:

- the first observer starts the upstream (a join); later ones share it and,
  when the source replays, get its latest value at once;
- the last observer to leave stops it (the leave); the next observer starts a
  fresh one, without a stale value from the previous run;
- an error or a completion reaches every observer and resets the source the
  same way.

Observers may subscribe and dispose from any thread: the ``Bridge`` (``_loop``) runs
that work on the client's loop (at once when already there, else with
``call_soon_threadsafe``, never blocking). Every notification is delivered on
that loop, and an observer that raises is logged without disturbing the
others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from reactivex import abc
from reactivex.disposable import Disposable

from motia_client._loop import Bridge

__all__ = ["SharedSource", "Sink"]

logger = logging.getLogger("motia_client")
T = TypeVar("T")
_NOTHING: Any = object()


class Sink(Generic[T]):
    """What an upstream feeds: the notifications for every current observer."""

    def on_next(self, value: T) -> None:
        """Deliver a value."""
        raise NotImplementedError  # pragma: no cover - SharedSource implements it

    def on_error(self, error: Exception) -> None:
        """End every observer with ``error``."""
        raise NotImplementedError  # pragma: no cover

    def on_completed(self) -> None:
        """Complete every observer."""
        raise NotImplementedError  # pragma: no cover


Start = Callable[[Sink[T]], Callable[[], None]]
"""Starts an upstream on the client's loop, feeding the sink; returns its stop function."""


class _Entry:
    """One observer; ``disposed`` guards a dispose that overtakes its subscribe."""

    __slots__ = ("disposed", "observer")

    def __init__(self, observer: abc.ObserverBase[Any]) -> None:
        self.observer = observer
        self.disposed = False


class SharedSource(Sink[T]):
    """A ref-counted upstream with optional replay of its latest value.

    ``start`` runs on the client's loop when the first observer arrives;
    ``gone`` notifies an observer that arrives after the client's loop is gone
    (a closed blocking client). ``name`` appears in logs.
    """

    def __init__(
        self,
        bridge: Bridge,
        start: Start[T],
        gone: Callable[[abc.ObserverBase[T]], None],
        *,
        replay: bool,
        name: str,
    ) -> None:
        self._bridge = bridge
        self._start = start
        self._gone = gone
        self._replay = replay
        self._name = name
        self._entries: list[_Entry] = []
        self._stop: Callable[[], None] | None = None
        self._running = False
        self._latest: Any = _NOTHING

    def subscribe(
        self, observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        """The subscribe function of the observable (any thread)."""
        entry = _Entry(observer)
        if not self._bridge.run(lambda: self._add(entry)):
            self._gone(observer)
            return Disposable()

        def dispose() -> None:
            entry.disposed = True
            self._bridge.run(lambda: self._remove(entry))

        return Disposable(dispose)

    # -- on the client's loop ---------------------------------------------------------

    def _add(self, entry: _Entry) -> None:
        if entry.disposed:
            return
        self._entries.append(entry)
        if self._running:
            if self._latest is not _NOTHING:
                self._deliver(entry, self._latest)
            return
        self._running = True
        try:
            stop = self._start(self)
        except Exception as exc:  # e.g. the client closed meanwhile: ClientClosedError
            self.on_error(exc)
            return
        if self._running:
            self._stop = stop
        else:  # it ended while starting (a closed client)
            stop()

    def _remove(self, entry: _Entry) -> None:
        if entry in self._entries:
            self._entries.remove(entry)
            if not self._entries:
                self._reset()

    def _reset(self) -> list[_Entry]:
        entries, self._entries = self._entries, []
        stop, self._stop = self._stop, None
        self._running = False
        self._latest = _NOTHING
        if stop is not None:
            stop()
        return entries

    def on_next(self, value: T) -> None:
        """Deliver ``value`` to every observer (and keep it for late ones if replaying)."""
        if not self._running:
            return
        if self._replay:
            self._latest = value
        for entry in tuple(self._entries):
            if not entry.disposed:
                self._deliver(entry, value)

    def on_error(self, error: Exception) -> None:
        """End every observer with ``error`` and stop the upstream."""
        if not self._running:
            return
        for entry in self._reset():
            self._guard(entry.observer.on_error, error)

    def on_completed(self) -> None:
        """Complete every observer and stop the upstream."""
        if not self._running:
            return
        for entry in self._reset():
            self._guard(entry.observer.on_completed)

    def _deliver(self, entry: _Entry, value: T) -> None:
        self._guard(entry.observer.on_next, value)

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            logger.exception("an observer of %s raised; the others carry on", self._name)
