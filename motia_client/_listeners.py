"""User callbacks, called one way everywhere: in order, isolated, coroutines awaited.

Every listener the library calls (state changes, custom events, errors, the
change feed, connection states) goes through :class:`Listeners`: a listener
that raises is logged on the ``motia_client`` logger and the others still run;
one that returns an awaitable (a coroutine function) has it run by the owner's
``spawn``, so a slow listener never blocks the frames behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Listeners", "Spawner", "call_listener"]

logger = logging.getLogger("motia_client")
F = TypeVar("F", bound=Callable[..., Any])


class Spawner(Protocol):
    """Runs the awaitable a coroutine listener returned (the client: a task on its loop)."""

    def __call__(self, awaitable: Awaitable[Any], what: str) -> object: ...


def call_listener(spawn: Spawner, listener: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Call one user listener with ``args``, isolating its errors; spawn a returned awaitable."""
    try:
        result = listener(*args)
    except Exception:
        logger.exception("a listener raised; the other listeners still run")
        return
    if result is not None and isawaitable(result):
        spawn(result, "listener")


class Listeners(Generic[F]):
    """An ordered list of listeners of one kind, called with :func:`call_listener`."""

    __slots__ = ("_items", "_spawn")

    def __init__(self, spawn: Spawner) -> None:
        self._spawn = spawn
        self._items: list[F] = []

    def add(self, listener: F) -> Callable[[], None]:
        """Add ``listener``; return a function that removes it."""
        self._items.append(listener)
        return lambda: self.remove(listener)

    def remove(self, listener: F) -> None:
        """Remove ``listener`` (its first registration); unknown listeners are ignored."""
        if listener in self._items:
            self._items.remove(listener)

    def call(self, listener: F, *args: Any) -> None:
        """Call one listener the way :meth:`emit` calls each."""
        call_listener(self._spawn, listener, args)

    def emit(self, *args: Any) -> None:
        """Call every listener with ``args``, in order (a copy: one may remove another)."""
        items = self._items
        if len(items) == 1:
            call_listener(self._spawn, items[0], args)
            return
        for listener in tuple(items):
            call_listener(self._spawn, listener, args)

    def clear(self) -> None:
        """Forget every listener (and what they hold)."""
        self._items.clear()

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)
