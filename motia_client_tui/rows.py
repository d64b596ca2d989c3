"""What the table shows, as pure code: columns, cell text, and what to change between frames.

No widgets here. :class:`Columns` turns an item into a tuple of ``rich.text.Text``
cells (never markup: an item's text is shown as written).

Which rows changed comes from the client's change feed: :class:`Pending` collects
the feed's changes between two frames (the latest item per id), and
:func:`plan_changes` turns them into a :class:`Plan` (rows to remove, rows to add,
rows whose cells to compare) without looking at the other rows. The feed says
nothing about the order, so the order is still read from the subscription, and
only when it may have moved (an item added, a resync, a change under a sort
key). :func:`plan` compares every row; the app uses it when a change came
without a feed item, so that the table never misses one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from rich.text import Text

if TYPE_CHECKING:
    from motia_client import ItemChange

__all__ = [
    "REMOVED",
    "Column",
    "Columns",
    "OutOfStep",
    "Pending",
    "Plan",
    "Row",
    "cell_text",
    "compact",
    "format_time",
    "generic_columns",
    "plan",
    "plan_changes",
    "todo_columns",
]

MAX_CELL_CHARS = 60
MAX_DESCRIPTION_CHARS = 200  # the table cuts it to the column's width, with an ellipsis
Row = tuple[str, Any]
"""One row: the item id and the item (a mapping, normally)."""


def format_time(value: Any) -> str:
    """Show an ISO-8601 timestamp as ``YYYY-MM-DD HH:MM`` in UTC; other values as text.

    A date without a time (``2025-12-01``) stays a date.
    """
    if not isinstance(value, str) or not value:
        return "" if value is None else str(value)
    if len(value) == 10:
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%d %H:%M")


def _shorten(text: str, limit: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact(value: Any, limit: int = MAX_CELL_CHARS) -> str:
    """Any JSON value on one line of at most ``limit`` characters (containers as JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _shorten(value, limit)
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        shown = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        shown = repr(value)
    return _shorten(shown, limit)


def cell_text(value: Any) -> Text:
    """Any JSON value as one cell: strings as they are (never markup), numbers to the right."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Text(str(value), justify="right")
    return Text(compact(value))


def _field(item: Any, key: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


@dataclass(frozen=True)
class Column:
    """One table column: its key, its header, and how it draws an item."""

    key: str
    label: str
    render: Callable[[str, Any], Text]
    """``render(row_id, item)`` returns the cell."""


def _plain(key: str) -> Column:
    return Column(key, key, lambda _, item: cell_text(_field(item, key)))


def _id_column() -> Column:
    return Column("id", "id", lambda row_id, _: Text(row_id))


def _todo_description(_: str, item: Any) -> Text:
    description = compact(_field(item, "description"), MAX_DESCRIPTION_CHARS)
    text = Text(description, no_wrap=True, overflow="ellipsis")
    if _field(item, "completedAt"):
        text.stylize("dim")
    return text


def _todo_done(_: str, item: Any) -> Text:
    completed = _field(item, "completedAt")
    if not completed:
        return Text("")
    shown = format_time(completed)
    return Text(f"✓ {shown[11:] or shown}", style="green")  # the time; the day is in "created"


def _time_of(key: str) -> Callable[[str, Any], Text]:
    return lambda _, item: Text(format_time(_field(item, key)))


def todo_columns() -> list[Column]:
    """The todo stream's columns: description, created, due, done."""
    return [
        Column("description", "description", _todo_description),
        Column(
            "createdAt", "created (UTC)", lambda _, i: Text(format_time(_field(i, "createdAt")))
        ),
        Column("dueDate", "due", lambda _, i: Text(format_time(_field(i, "dueDate")))),
        Column("completedAt", "done", _todo_done),
    ]


def generic_columns(keys: Iterable[str]) -> list[Column]:
    """Columns for any other stream: ``id`` first, then each field (``_private`` ones skipped)."""
    return [_plain(key) for key in keys if key != "id" and not key.startswith("_")]


class Columns:
    """The table's columns; for streams without a fixed layout they grow as fields appear.

    ``flex`` names the column that takes the width the others leave (its cells
    are cut with an ellipsis), so that every column fits a narrow terminal.
    """

    def __init__(self, fixed: Sequence[Column] | None = None, flex: str | None = None) -> None:
        self.fixed = fixed is not None
        self.flex = flex
        self.columns: list[Column] = list(fixed) if fixed is not None else [_id_column()]
        self._keys = {column.key for column in self.columns}

    @classmethod
    def for_stream(cls, stream: str) -> Columns:
        """Todo columns for the ``todo`` stream, growing generic ones for any other."""
        return cls(todo_columns(), flex="description") if stream == "todo" else cls()

    def discover(self, items: Iterable[Any]) -> list[Column]:
        """Add columns for fields not seen before; return the new ones (none when fixed)."""
        if self.fixed:
            return []
        fresh: list[str] = []
        for item in items:
            if isinstance(item, Mapping):
                for key in item:
                    if key not in self._keys and isinstance(key, str):
                        self._keys.add(key)
                        fresh.append(key)
        added = generic_columns(fresh)
        self.columns.extend(added)
        return added

    def cells(self, row_id: str, item: Any) -> tuple[Text, ...]:
        """The item's cells, one fresh ``Text`` per column."""
        return tuple(column.render(row_id, item) for column in self.columns)


@dataclass
class Plan:
    """What to change on screen to show the new rows.

    ``removed``: ids to remove. ``added``: ids to append, in order. ``changed``:
    ids whose item changed (their cells must be compared). ``order``: the full
    new order of ids, or ``None`` when appending ``added`` after the surviving
    rows already gives it.
    """

    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    order: list[str] | None = None

    @property
    def empty(self) -> bool:
        """Whether nothing needs to change."""
        return not (self.removed or self.added or self.changed or self.order)


def plan(shown_order: Sequence[str], shown: Mapping[str, Any], rows: Sequence[Row]) -> Plan:
    """Compare what is on screen (ids in order, id -> item shown) with ``rows``.

    Items are compared by identity first (the client keeps the same object for
    an unchanged item), then by equality (a resync brings equal copies).
    """
    result = Plan()
    new_ids = [row_id for row_id, _ in rows]
    incoming = dict(rows)
    for row_id in shown_order:
        if row_id not in incoming:
            result.removed.append(row_id)
    for row_id, item in rows:
        if row_id not in shown:
            result.added.append(row_id)
        else:
            old = shown[row_id]
            if old is not item and old != item:
                result.changed.append(row_id)
    removed = set(result.removed)
    kept = [row_id for row_id in shown_order if row_id not in removed]
    if kept + result.added != new_ids:
        result.order = new_ids
    return result


class _Removed:
    """The type of :data:`REMOVED`."""

    def __repr__(self) -> str:
        return "REMOVED"


REMOVED: Final = _Removed()
"""What :class:`Pending` holds for an id whose last change removed it."""


class OutOfStep(Exception):
    """The changes and the order disagree (an id in one and not the other): compare every row."""


class Pending:
    """What the change feed said since the last frame: the latest item of each changed id.

    Several changes of one id between two frames leave one entry, its last item or
    :data:`REMOVED`: the frame applies the net result. ``reorder`` says whether the
    order may have moved: an item was added, a resync came, or an item changed
    while the rows are sorted (without a sort key an update keeps an item's place,
    and a removal moves no other row). ``missed`` says that the subscription
    changed without a feed item, so that the frame must compare every row.
    """

    __slots__ = ("items", "missed", "reorder", "sorted")

    def __init__(self, *, sorted_rows: bool) -> None:
        self.sorted = sorted_rows
        self.items: dict[str, Any] = {}  # id -> latest item, or REMOVED
        self.reorder = False
        self.missed = False

    def __bool__(self) -> bool:
        return bool(self.items) or self.missed

    def record(self, change: ItemChange[Any]) -> None:
        """Take one change of the feed."""
        kind = change.kind
        self.items[change.id] = REMOVED if kind == "removed" else change.new
        if kind == "added" or change.resync or (self.sorted and kind == "modified"):
            self.reorder = True

    def take(self) -> Pending:
        """Hand over what was collected, and start collecting afresh."""
        taken = Pending(sorted_rows=self.sorted)
        taken.items, taken.reorder, taken.missed = self.items, self.reorder, self.missed
        self.items, self.reorder, self.missed = {}, False, False
        return taken


def plan_changes(
    shown_order: Sequence[str],
    shown: Mapping[str, Any],
    changes: Mapping[str, Any],
    order: Sequence[str] | None = None,
) -> Plan:
    """What to change on screen, from the changed ids alone (id -> item, or :data:`REMOVED`).

    ``order`` is the full new order of ids when it may have moved; ``None`` keeps
    the rows where they are and appends added ones. Only the changed ids are
    looked at, unless an order is given (one pass over it). Raises
    :class:`OutOfStep` when ``order`` does not hold exactly the rows the changes
    leave.
    """
    result = Plan()
    for row_id, item in changes.items():
        if item is REMOVED:
            if row_id in shown:
                result.removed.append(row_id)
        elif row_id not in shown:
            result.added.append(row_id)
        else:
            old = shown[row_id]
            if old is not item and old != item:  # a resync brings equal copies
                result.changed.append(row_id)
    if order is None:
        return result
    new_ids = list(order)
    if result.added:
        position = {row_id: index for index, row_id in enumerate(new_ids)}
        try:
            result.added.sort(key=position.__getitem__)  # appended in their final order
        except KeyError:
            raise OutOfStep("an added row is not in the order") from None
    removed = set(result.removed)
    kept = [row_id for row_id in shown_order if row_id not in removed]
    if kept + result.added != new_ids:
        if len(kept) + len(result.added) != len(new_ids) or set(kept).union(result.added) != set(
            new_ids
        ):
            raise OutOfStep("the order does not hold the rows the changes leave")
        result.order = new_ids
    return result
