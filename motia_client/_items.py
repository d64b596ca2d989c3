"""Snapshots of a group's items (:class:`Items`), built by :class:`~motia_client._views.GroupView`.

This module stays pure Python when the core is compiled: ``Items`` is a
``collections.abc.Sequence``, a Python class a compiled class cannot extend,
and a view builds one only when the previous one was kept by someone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar, overload

if TYPE_CHECKING:
    from motia_client._views import GroupView

__all__ = ["Items"]

T = TypeVar("T")


class Items(Sequence[T]):
    """An immutable, ordered snapshot of a group's items.

    Built lazily: a snapshot nobody reads costs nothing. If a snapshot is still
    referenced when the group next changes, its items are copied first, so a
    kept snapshot never changes under its holder.
    """

    __slots__ = ("_items", "_view")

    def __init__(self, view: GroupView[T] | None, items: tuple[T, ...] | None = None):
        self._view = view  # while lazy: the view it reads from
        self._items = items  # once read: the items, in order

    def _materialize(self) -> tuple[T, ...]:
        items = self._items
        if items is None:
            assert self._view is not None
            items = self._items = self._view._ordered()
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
        return self._materialize()[index]

    def __iter__(self) -> Iterator[T]:
        return iter(self._materialize())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Items):
            return self._materialize() == other._materialize()
        if isinstance(other, (tuple, list)):
            return self._materialize() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._materialize())

    def __repr__(self) -> str:
        return f"Items({list(self._materialize())!r})"

    def __copy__(self) -> Items[T]:
        return self  # immutable, like a tuple (a copy of a lazy one would follow the group)

    def __deepcopy__(self, memo: dict[int, object]) -> Items[T]:
        return Items(None, copy.deepcopy(self._materialize(), memo))

    def __reduce__(self) -> tuple[type[Items[T]], tuple[None, tuple[T, ...]]]:
        return (Items, (None, self._materialize()))  # pickled with its items, not its view
