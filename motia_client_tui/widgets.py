"""The widgets of motia-tui: the live table, the connection line, the AI panel, the log.

Widgets never talk to the network. The app hands them what changed once per
frame (the table: the rows the change feed reported; the others: their latest
state) and they touch the screen only where something changed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widgets import DataTable, Input, Label, RichLog, Static
from textual.widgets.data_table import CellDoesNotExist

from motia_client import ConnectionState

from .rows import Columns, Plan, Row, plan, plan_changes
from .todos import check_due_date

__all__ = [
    "AddTodoScreen",
    "AiPanel",
    "ConnectionIndicator",
    "EventLog",
    "LiveTable",
    "Status",
    "TodoDraft",
    "status_line",
]

REBUILD_MIN_REMOVALS = 64  # below this, removing rows one by one is cheaper than a rebuild
FLEX_MIN, FLEX_MAX = 10, 80  # the flexible column's width (the todo description)


class LiveTable(DataTable[Text]):
    """A DataTable that follows a changing list of rows in place.

    :meth:`follow` takes the rows the change feed reported since the last frame
    (and the new order, when it may have moved); :meth:`show` compares every row
    with a full list. Both remove, append and reorder rows and update only the
    cells that changed; the cursor stays on the row it was on (by id, not by index).

    DataTable redraws every visible cell after any change (its render caches
    are keyed on a table-wide update counter), so :attr:`render_cost` keeps a
    moving average of how long a redraw takes: the app uses it to pace updates.

    The flexible column (``columns.flex``, the todo description) gets the width
    the other columns leave, so that every column shows without scrolling; it is
    fitted again when the table is resized or another column grows.
    """

    def __init__(self, columns: Columns, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.spec = columns
        self._order: list[str] = []  # ids, in the order the table shows them
        self._items: dict[str, Any] = {}  # id -> the item object shown
        self._cells: dict[str, tuple[Text, ...]] = {}  # id -> the cells in the table
        self.render_cost = 0.0  # seconds per redraw, a moving average
        self.flex_width: int | None = None  # the flexible column's width, once fitted

    def render_lines(self, crop: Region) -> list[Strip]:
        """Draw (as DataTable does), measuring how long it takes."""
        started = time.perf_counter()
        lines = super().render_lines(crop)
        elapsed = time.perf_counter() - started
        self.render_cost = (
            elapsed if not self.render_cost else 0.7 * self.render_cost + 0.3 * elapsed
        )
        return lines

    def on_mount(self) -> None:
        """Create the initial columns."""
        self._add_columns()

    def on_resize(self) -> None:
        """Fit the flexible column to the new width."""
        self._fit()

    def _add_columns(self) -> None:
        for column in self.spec.columns:
            width = self.flex_width if column.key == self.spec.flex else None
            self.add_column(column.label, key=column.key, width=width)

    def _fit(self) -> None:
        """Give the flexible column what the others leave; rebuild when that changes."""
        flex = self.spec.flex
        if flex is None or self.size.width == 0:
            return
        others = sum(
            column.get_render_width(self) for key, column in self.columns.items() if key != flex
        )
        room = self.size.width - self.styles.scrollbar_size_vertical - others
        width = max(FLEX_MIN, min(FLEX_MAX, room - 2 * self.cell_padding))
        if width == self.flex_width:
            return
        self.flex_width = width
        selected = self.selected_id
        rows = [(row_id, self._items[row_id]) for row_id in self._order]
        self.clear(columns=True)
        self._add_columns()
        self._order, self._items, self._cells = [], {}, {}
        self._apply([], [], [row_id for row_id, _ in rows], dict(rows))
        if selected is not None and selected in self._cells:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    @property
    def shown_ids(self) -> list[str]:
        """The ids of the rows, top to bottom."""
        return list(self._order)

    def item(self, row_id: str) -> Any:
        """The item shown in row ``row_id``, or ``None``."""
        return self._items.get(row_id)

    @property
    def selected_id(self) -> str | None:
        """The id of the row under the cursor, or ``None`` when the table is empty."""
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except CellDoesNotExist:
            return None
        return key.value

    def follow(self, changes: Mapping[str, Any], order: Sequence[str] | None = None) -> bool:
        """Apply the feed's changes (id -> latest item, or ``REMOVED``); return whether any showed.

        ``order``: every id in its new order, when it may have moved (``None``
        keeps the rows in place and appends added ones). Raises
        :class:`~motia_client_tui.rows.OutOfStep`, before touching anything, when
        ``order`` does not hold exactly the rows the changes leave.
        """
        return self._carry_out(plan_changes(self._order, self._items, changes, order), changes)

    def show(self, rows: Sequence[Row]) -> bool:
        """Make the table show ``rows`` (id, item) in that order; return whether it changed."""
        incoming = dict(rows)
        return self._carry_out(plan(self._order, self._items, rows), incoming)

    def _carry_out(self, diff: Plan, incoming: Mapping[str, Any]) -> bool:
        """Apply ``diff``; ``incoming`` holds the new item of every added or changed id."""
        if diff.empty:
            return False
        selected = self.selected_id
        self._grow_columns([incoming[r] for r in diff.added + diff.changed])
        if len(diff.removed) >= REBUILD_MIN_REMOVALS and len(diff.removed) * 4 > len(self._order):
            order = diff.order
            if order is None:
                gone = set(diff.removed)
                order = [r for r in self._order if r not in gone] + diff.added
            self._rebuild([(r, incoming[r] if r in incoming else self._items[r]) for r in order])
        else:
            self._apply(diff.removed, diff.changed, diff.added, incoming)
            if diff.order is not None:
                self._reorder(diff.order)
        if selected is not None and selected in self._cells:
            index = self.get_row_index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)
        if diff.added or diff.changed:  # another column may have grown: fit once it has
            self.call_after_refresh(self._fit)
        return True

    def _grow_columns(self, items: list[Any]) -> None:
        for column in self.spec.discover(items):
            self.add_column(column.label, key=column.key, default=Text(""))
            for row_id, cells in self._cells.items():
                self._cells[row_id] = (*cells, Text(""))

    def _apply(
        self,
        removed: list[str],
        changed: list[str],
        added: list[str],
        incoming: Mapping[str, Any],
    ) -> None:
        for row_id in removed:
            self.remove_row(row_id)
            del self._items[row_id], self._cells[row_id]
        if removed:
            gone = set(removed)
            self._order = [row_id for row_id in self._order if row_id not in gone]
        keys = [column.key for column in self.spec.columns]
        for row_id in changed:
            item = incoming[row_id]
            old = self._cells[row_id]
            new = self.spec.cells(row_id, item)
            merged = []
            for index, (before, after) in enumerate(zip(old, new, strict=True)):
                if before == after:
                    merged.append(before)  # the table keeps its own object
                else:
                    self.update_cell(row_id, keys[index], after, update_width=True)
                    merged.append(after)
            self._cells[row_id] = tuple(merged)
            self._items[row_id] = item
        for row_id in added:
            item = incoming[row_id]
            cells = self.spec.cells(row_id, item)
            self.add_row(*cells, key=row_id)
            self._cells[row_id] = cells
            self._items[row_id] = item
            self._order.append(row_id)

    def _reorder(self, order: list[str]) -> None:
        # Each row's first cell is a Text object of its own: rank rows by its identity.
        rank = {id(self._cells[row_id][0]): index for index, row_id in enumerate(order)}
        self.sort(self.spec.columns[0].key, key=lambda cell: rank[id(cell)])
        self._order = list(order)

    def _rebuild(self, rows: Sequence[Row]) -> None:
        self.clear()
        self._order, self._items, self._cells = [], {}, {}
        self._apply([], [], [row_id for row_id, _ in rows], dict(rows))


@dataclass(frozen=True)
class Status:
    """What the connection line says: a state, its details, and a refusal if any."""

    state: ConnectionState
    url: str = ""
    attempt: int = 0
    retry_in: float | None = None  # seconds left before the next attempt
    reason: str | None = None
    refused: str | None = None  # a refused join or refused credentials


Tone = Literal["ok", "warn", "bad"]


def status_line(status: Status) -> tuple[str, Tone]:
    """The connection line's text and tone for ``status``."""
    state = status.state
    if status.refused is not None:
        return f"✖ refused: {status.refused}", "bad"
    if state is ConnectionState.OPEN:
        return f"● connected to {status.url}", "ok"
    if state in (ConnectionState.IDLE, ConnectionState.CONNECTING):
        return f"◌ connecting to {status.url}…", "warn"
    if state is ConnectionState.RECONNECTING:
        if status.retry_in is not None and status.retry_in > 0.05:
            retry = f"next retry in {status.retry_in:.1f}s"
        else:
            retry = "retrying now"
        return f"◌ reconnecting · attempt {status.attempt} · {retry}", "warn"
    if state is ConnectionState.CLOSED:
        return "○ closed", "warn"
    return f"✖ failed: {status.reason or 'the connection failed'}", "bad"


class ConnectionIndicator(Static):
    """One line: connected / connecting / reconnecting (attempt, next retry) / refused / failed."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("◌ starting…", id=id, classes="-warn", markup=False)
        self.text = "◌ starting…"

    def show(self, status: Status) -> None:
        """Show ``status`` (no repaint when the line is unchanged)."""
        text, tone = status_line(status)
        if text == self.text:
            return
        self.text = text
        self.update(text)
        self.set_class(tone == "ok", "-ok")
        self.set_class(tone == "warn", "-warn")
        self.set_class(tone == "bad", "-bad")


class AiPanel(VerticalScroll):
    """The AI answer, growing token by token; scrolled to its end as it grows.

    ``source`` is what it follows (``stream/group``: the group's newest item,
    or ``stream/group/item``); the title names the item shown.
    """

    def __init__(self, source: str | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.message = ""
        self.item_id: str | None = None
        self._body = Static("Waiting for an answer…", markup=False, id="ai-body")

    def compose(self) -> ComposeResult:
        """The answer's text."""
        yield self._body

    def on_mount(self) -> None:
        """Title the panel after what it follows."""
        self.border_title = f"AI · {self.source}" if self.source else "AI"

    def show(self, item_id: str | None, text: str) -> None:
        """Show ``text``, the answer of item ``item_id`` (``None``: no item yet)."""
        if item_id != self.item_id:
            self.item_id = item_id
            where = self.source or ""
            if item_id is not None and not where.endswith(f"/{item_id}"):
                where = f"{where}/{item_id}"
            self.border_title = f"AI · {where}"
        if text == self.message:
            return
        self.message = text
        self._body.update(Text(text) if text else "Waiting for an answer…")
        self.border_subtitle = f"{len(text)} chars"
        self.scroll_end(animate=False)


Kind = Literal["info", "event", "error"]
_STYLES: dict[str, str] = {"info": "dim", "event": "cyan", "error": "bold red"}


class EventLog(RichLog):
    """Custom events, errors and what the app did; written at most once per frame.

    :meth:`post` may be called at any rate (on the app's thread): lines wait in
    a bounded buffer, and :meth:`flush` writes them, saying how many were dropped.
    A custom event takes one line, cut to the log's width; info and errors wrap.
    The subtitle counts the state echoes that were hidden (:meth:`count_echoes`).
    """

    BUFFER = 200

    def __init__(self, clock: Callable[[], str], *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=500, wrap=True, markup=False, min_width=20)
        self._clock = clock
        self._pending: deque[tuple[str, Kind, str]] = deque(maxlen=self.BUFFER)
        self._posted = 0
        self._written = 0
        self.echoes = 0
        self.history: deque[tuple[Kind, str]] = deque(maxlen=500)  # what was written, for tests

    def post(self, kind: Kind, message: str) -> None:
        """Queue one line."""
        self._pending.append((self._clock(), kind, message))
        self._posted += 1

    def count_echoes(self, total: int) -> None:
        """Say in the subtitle that ``total`` state echoes were hidden."""
        if total == self.echoes:
            return
        self.echoes = total
        self.border_subtitle = f"{total} state echo{'' if total == 1 else 'es'} hidden"

    def flush(self) -> None:
        """Write the queued lines."""
        if not self._pending:
            return
        lines = []
        while self._pending:
            lines.append(self._pending.popleft())
        dropped = self._posted - self._written - len(lines)
        if dropped > 0:
            self.write(Text(f"… {dropped} lines dropped", style="dim italic"))
        for stamp, kind, message in lines:
            line = Text(f"{stamp} ", style="dim")
            if kind == "event":
                line.no_wrap, line.overflow = True, "ellipsis"
            line.append(message, style=_STYLES[kind])
            self.write(line)
            self.history.append((kind, message))
        self._written = self._posted


@dataclass(frozen=True)
class TodoDraft:
    """What the add dialog returns."""

    description: str
    due_date: str | None = None


class AddTodoScreen(ModalScreen[TodoDraft | None]):
    """A small dialog: a description, an optional due date; enter adds, escape cancels.

    Keys typed in one burst with the ``a`` that opens it (a paste in a terminal
    without bracketed paste, a fast typist) reach the screen before its fields
    can take focus: they are kept and replayed, in order, once they can. A
    bracketed paste of ``description<TAB>due date`` fills both fields.
    """

    # Priority bindings act as the key arrives, before the keys behind it are handed to a
    # field: "description<TAB>due<ENTER>" typed in one burst fills both fields.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "app.focus_next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._early: list[tuple[str, str | None]] = []  # keys that came before the fields
        self._answered = False

    def compose(self) -> ComposeResult:
        """The dialog."""
        with Vertical(id="add-dialog"):
            yield Label("New todo")
            yield Input(placeholder="description", id="description")
            yield Input(placeholder="due date (optional), e.g. 2026-01-31", id="due")
            yield Label("", id="add-error", classes="error", markup=False)
            yield Label("enter: add · tab: next field · escape: cancel", classes="hint")

    def on_mount(self) -> None:
        """Focus the description, then replay the keys that came first."""
        self.set_focus(self.query_one("#description", Input))
        early, self._early = self._early, []
        for key, character in early:
            self._replay(key, character)

    def on_key(self, event: events.Key) -> None:
        """Keep keys that arrive before a field has focus; give stray characters to the field."""
        focused = self.focused
        if not isinstance(focused, Input):
            self._early.append((event.key, event.character))
        elif event.is_printable and event.character is not None:
            # A character no field took: it was sent here before the field had focus.
            focused.insert_text_at_cursor(event.character)
        else:
            return
        event.stop()
        event.prevent_default()

    def _replay(self, key: str, character: str | None) -> None:
        focused = self.focused
        if self._answered:
            return
        if key == "escape":
            self.action_cancel()
        elif key == "tab":
            self.focus_next()
        elif key == "shift+tab":
            self.focus_previous()
        elif key == "enter":
            self._submit()
        elif not isinstance(focused, Input):
            return
        elif key == "backspace":
            focused.action_delete_left()
        elif character is not None and character.isprintable():
            focused.insert_text_at_cursor(character)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Split a pasted ``description<TAB>due`` over the two fields; clear a stale error."""
        self.query_one("#add-error", Label).update("")
        if event.input.id != "description" or "\t" not in event.value:
            return
        description, _, due = event.value.partition("\t")
        due_input = self.query_one("#due", Input)
        event.input.value = description
        due_input.value = due.replace("\t", " ").strip()
        self.set_focus(due_input)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Add the todo, unless the description is empty or the due date is no date."""
        event.stop()
        self._submit()

    def _submit(self) -> None:
        if self._answered:
            return
        description_input = self.query_one("#description", Input)
        description = description_input.value.strip()
        if not description:
            self._refuse("a todo needs a description", description_input)
            return
        due_input = self.query_one("#due", Input)
        try:
            due = check_due_date(due_input.value)
        except ValueError as exc:
            self._refuse(str(exc), due_input)
            return
        self._answered = True
        self.dismiss(TodoDraft(description, due))

    def _refuse(self, message: str, field: Input) -> None:
        """Say what is wrong under the fields; send nothing."""
        self.query_one("#add-error", Label).update(message)
        self.set_focus(field)
        self.app.bell()

    def action_cancel(self) -> None:
        """Close without adding."""
        if not self._answered:
            self._answered = True
            self.dismiss(None)
