"""Snapshots of a group's items (:class:`Items`), as views hand them out.

A snapshot is built lazily: until someone reads it, it points at the view it
came from (any :class:`ItemsSource`); the view copies it out (``materialize``)
before the group changes if someone else still holds it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Protocol, TypeVar, overload

__all__ = ["Items", "ItemsSource"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class ItemsSource(Protocol[T_co]):
    """Where a lazy snapshot reads its items: the ordered items, and their count."""

    def ordered(self) -> tuple[T_co, ...]:
        """The items in order."""
        ...

    def __len__(self) -> int: ...


class Items(Sequence[T]):
    """An immutable, ordered snapshot of a group's items.

    Built lazily: a snapshot nobody reads costs nothing. If a snapshot is still
    referenced when the group next changes, its items are copied first, so a
    kept snapshot never changes under its holder.
    """

    __slots__ = ("_items", "_view")

    def __init__(self, view: ItemsSource[T] | None, items: tuple[T, ...] | None = None):
        self._view = view  # while lazy: the view it reads from
        self._items = items  # once read: the items, in order

    def materialize(self) -> tuple[T, ...]:
        """Fix the items now (read from the view once); return them."""
        items = self._items
        if items is None:
            assert self._view is not None
            items = self._items = self._view.ordered()
            self._view = None
        return items

    def __len__(self) -> int:
        items = self._items
        if items is not None:
            return len(items)
        assert self._view is not None
        return len(self._view)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...
    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        return self.materialize()[index]

    def __iter__(self) -> Iterator[T]:
        return iter(self.materialize())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Items):
            return self.materialize() == other.materialize()
        if isinstance(other, (tuple, list)):
            return self.materialize() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.materialize())

    def __repr__(self) -> str:
        return f"Items({list(self.materialize())!r})"

    def __copy__(self) -> Items[T]:
        return self  # immutable, like a tuple (a copy of a lazy one would follow the group)

    def __deepcopy__(self, memo: dict[int, object]) -> Items[T]:
        return Items(None, copy.deepcopy(self.materialize(), memo))

    def __reduce__(self) -> tuple[type[Items[T]], tuple[None, tuple[T, ...]]]:
        return (Items, (None, self.materialize()))  # pickled with its items, not its view
