"""The change feed's value: :class:`ItemChange` (one item's change).

A plain dataclass module, kept out of the compiled core (a generic frozen dataclass
is not something mypyc compiles); the compiled ``_sink`` builds these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

__all__ = ["ChangeKind", "ItemChange"]

T = TypeVar("T")
ChangeKind = Literal["added", "modified", "removed"]


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
