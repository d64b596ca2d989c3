"""DataFrames of subscriptions: ``to_pandas()``, ``to_polars()`` and the live ``frame_view()``.

One row per item, in the subscription's order; the item's id is the row's key
(pandas: the index, named ``id``; polars, which has no index: an ``id`` column,
first), and the item's own ``id`` field is not repeated as a column. The other
columns are every field any item has, in the order they first appear (a model's
fields first, so an empty group of a model still has its columns); fields that
start with ``_`` (Motia's ``_createdAt``) are kept: a frame is data to analyse,
not a view to read. Model items go through ``model_dump()``.

pandas and polars are optional (the ``[pandas]`` and ``[polars]`` extras) and
imported on first use only, never by ``import motia_client``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from motia_client._notebook import Shown

if TYPE_CHECKING:
    import pandas
    import polars
    from pydantic import BaseModel

    from motia_client._loop import LoopOwner

__all__ = ["FrameView", "Library", "Rows", "require", "rows", "to_pandas", "to_polars"]

Library = Literal["pandas", "polars"]
LIBRARIES: tuple[Library, ...] = ("pandas", "polars")


def require(library: str, what: str) -> Any:
    """Import ``library`` (pandas or polars), or raise an ImportError naming the extra."""
    try:
        return importlib.import_module(library)
    except ImportError as exc:
        raise ImportError(
            f"{what} needs {library}: pip install 'motia-client[{library}]'", name=library
        ) from exc


@dataclass(frozen=True)
class Rows:
    """What a frame is built from: the items in order, their ids, and the model's fields."""

    ids: list[str]
    items: list[Any]
    total: int  # items in the subscription (more than ``items`` when cut to a limit)
    fields: tuple[str, ...] = ()


class Framed(Shown, Protocol):
    """What a frame reads of a subscription (an asyncio one, on its client's loop)."""

    @property
    def model(self) -> type[BaseModel] | None: ...


def rows(sub: Framed, limit: int | None = None) -> Rows:
    """The items of ``sub`` with their ids, the first ``limit`` only if given.

    Call it on the client's loop (where the state lives); the rows are snapshots,
    safe to convert on any thread.
    """
    fields = _model_fields(sub.model)
    state = sub.frozen_state()
    if sub.item_id is not None:  # an item: one row, or none while it does not exist
        if state is None:
            return Rows([], [], 0, fields)
        if limit == 0:
            return Rows([], [], 1, fields)
        return Rows([sub.item_id], [state], 1, fields)
    ids: tuple[str, ...] = getattr(sub, "ids")  # noqa: B009  (a group's, in the state's order)
    total = len(state)
    if limit is not None:
        ids, state = ids[:limit], state[:limit]
    return Rows(list(ids), list(state), total, fields)


def _model_fields(model: type[BaseModel] | None) -> tuple[str, ...]:
    return () if model is None else tuple(model.model_fields)


def _record(item: Any) -> Mapping[str, Any]:
    dump = getattr(item, "model_dump", None)  # a pydantic model
    if callable(dump):
        dumped: dict[str, Any] = dump()
        return dumped
    if isinstance(item, Mapping):
        return item
    return {"value": item}


def _columns(records: Sequence[Mapping[str, Any]], fields: tuple[str, ...]) -> list[str]:
    """Every field, in the order it first appears, the model's first; ``id`` is the key."""
    names = dict.fromkeys(fields)
    for record in records:
        names.update(dict.fromkeys(record))
    names.pop("id", None)
    return list(names)


def to_pandas(source: Rows) -> pandas.DataFrame:
    """A ``pandas.DataFrame`` of ``source``: index ``id``, one column per field."""
    pd = require("pandas", "to_pandas()")
    records = [_record(item) for item in source.items]
    index = pd.Index(source.ids, name="id")
    return pd.DataFrame(records, columns=_columns(records, source.fields), index=index)


def to_polars(source: Rows) -> polars.DataFrame:
    """A ``polars.DataFrame`` of ``source``: an ``id`` column, then one column per field."""
    pl = require("polars", "to_polars()")
    records = [_record(item) for item in source.items]
    columns = [pl.Series("id", source.ids, dtype=pl.String)]
    for name in _columns(records, source.fields):
        columns.append(_polars_series(pl, name, [record.get(name) for record in records]))
    frame: polars.DataFrame = pl.DataFrame(columns)
    return frame


def _polars_series(pl: Any, name: str, values: list[Any]) -> Any:
    """One column, typed by polars when it holds every value as it is, else as objects.

    polars alone would turn a value that does not fit the column's type into a
    null (``1`` among objects), drop the keys that the first object lacks, or
    fail (a list among strings); such a column keeps the Python values instead
    (dtype ``Object``), so nothing is lost.
    """
    errors = (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError)
    for strict in (True, False):  # not strict: mixed numbers (1 and 1.5) share a type
        try:
            series = pl.Series(name, values, strict=strict)
        except errors:
            continue
        if strict and not series.dtype.is_nested():
            return series  # a strict column of scalars refuses any value it cannot hold
        if all(map(_holds, series.to_list(), values)):
            return series
    return pl.Series(name, values, dtype=pl.Object)


def _holds(out: Any, value: Any) -> bool:
    """Whether ``out``, read back from polars, is ``value`` (a struct adds null fields)."""
    if isinstance(value, dict):
        return (
            isinstance(out, dict)
            and all(_holds(out.get(key), item) for key, item in value.items())
            and all(out[key] is None for key in out.keys() - value.keys())
        )
    if isinstance(value, list):
        return isinstance(out, list) and len(out) == len(value) and all(map(_holds, out, value))
    if isinstance(value, bool) or isinstance(out, bool):
        return type(out) is type(value) and out == value
    return bool(out == value)


def convert(library: Library, source: Rows) -> Any:
    """``source`` as a DataFrame of ``library``."""
    return to_pandas(source) if library == "pandas" else to_polars(source)


class FrameView:
    """A subscription shown as a DataFrame in Jupyter, updated in place as it changes.

    Returned by ``sub.frame_view()``; leave it as a cell's value (or pass it to
    ``display``). It shows the first ``max_rows`` items as the library renders a
    frame, under a heading with the item count and the connection state.
    """

    def __init__(self, sub: Framed, owner: LoopOwner, library: Library, max_rows: int) -> None:
        if library not in LIBRARIES:
            raise ValueError(f"library must be 'pandas' or 'polars', not {library!r}")
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0:
            raise ValueError(f"max_rows must be an integer >= 0, not {max_rows!r}")
        require(library, "frame_view()")  # imported here, in the cell, not on the client's loop
        self._sub = sub
        self._owner = owner
        self.library: Library = library
        self.max_rows = max_rows

    def _frame(self) -> tuple[Any, int]:
        """The frame shown now and the number of items (on the client's loop)."""
        source = rows(self._sub, self.max_rows)
        return convert(self.library, source), source.total

    def _repr_html_(self) -> str:
        from motia_client import _notebook

        return _notebook.subscription_html(self._sub, self._owner, frame=self._frame)

    def _ipython_display_(self, **options: Any) -> None:
        """Show the frame live; ``options`` go to the display (``publisher``, ``throttle``)."""
        from motia_client import _notebook

        _notebook.display_subscription(self._sub, self._owner, frame=self._frame, **options)

    def __repr__(self) -> str:
        return f"<FrameView ({self.library}) of {self._sub!r}>"
