"""``StateStore``: Motia's key-value state (``state.set(namespace, key, value)``) and its triggers.

The seeds write each todo to state as well as to its stream, and a state trigger
reacts to a value changing (the "order status changed" pattern). Values are JSON,
copied in and out. Like the stream store, it runs on the server's loop.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("server_stub.state")


@dataclass(frozen=True)
class StateChange:
    """A committed state write: ``new`` is None for a delete, ``old`` None for a first set."""

    namespace: str
    key: str
    old: Any
    new: Any


StateTrigger = Callable[[StateChange], Awaitable[None]]


class StateStore:
    """Namespaced key-value state in memory."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._triggers: dict[str, list[StateTrigger]] = {}

    async def get(self, namespace: str, key: str) -> Any:
        """A copy of the value, or None."""
        return copy.deepcopy(self._data.get(namespace, {}).get(key))

    async def set(self, namespace: str, key: str, value: Any) -> Any:
        """Store a copy of ``value``, run the namespace's triggers, return the value."""
        space = self._data.setdefault(namespace, {})
        old = space.get(key)
        space[key] = copy.deepcopy(value)
        await self._fire(StateChange(namespace, key, copy.deepcopy(old), copy.deepcopy(value)))
        return copy.deepcopy(value)

    async def delete(self, namespace: str, key: str) -> Any:
        """Remove the key; return its last value (None if absent)."""
        old = self._data.get(namespace, {}).pop(key, None)
        if old is not None:
            await self._fire(StateChange(namespace, key, copy.deepcopy(old), None))
        return old

    async def items(self, namespace: str) -> dict[str, Any]:
        """A copy of every key and value of the namespace."""
        return copy.deepcopy(self._data.get(namespace, {}))

    def add_trigger(self, namespace: str, trigger: StateTrigger) -> None:
        """Run ``trigger`` after every write to ``namespace``."""
        self._triggers.setdefault(namespace, []).append(trigger)

    async def _fire(self, change: StateChange) -> None:
        for trigger in list(self._triggers.get(change.namespace, ())):
            try:
                await trigger(change)
            except Exception:
                log.exception("state trigger %r failed on %s", trigger, change.namespace)
