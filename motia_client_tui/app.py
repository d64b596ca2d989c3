"""``MotiaTui``: the Textual app behind ``motia-tui``.

It runs the asyncio stream client and the HTTP helper on Textual's own loop.
Client listeners only record what happened (a dirty flag, the latest
connection state, a log line); a timer at the frame rate (``--fps``, 25 by
default) applies the latest state to the widgets. However fast the server
writes, the screen is updated at most ``fps`` times a second, and each update
touches only the rows and cells that changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer, Static

from motia_client import (
    AsyncMotiaHttp,
    AsyncStreamClient,
    AuthenticationError,
    ConnectionState,
    GroupSubscription,
    HttpError,
    ItemSubscription,
    MotiaError,
    ReconnectPolicy,
    StateChange,
    SubscriptionRefused,
    TransportFactory,
)

from .cli import Options
from .rows import Columns, Row, compact
from .widgets import (
    AddTodoScreen,
    AiPanel,
    ConnectionIndicator,
    EventLog,
    LiveTable,
    Status,
    TodoDraft,
)

__all__ = ["FrameStats", "MotiaTui"]

logger = logging.getLogger("motia_client_tui")

DRAW_BUDGET = 3.0  # wait at least this many times the table's last draw time between updates
LOG_CHARS = 200  # a log line shows this much of an event's data
OPENAI_STREAM = "openai"
OPENAI_ITEM = "message"


def public_url(url: str) -> str:
    """``url`` without its query string or user info (where a token may travel)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _wall_clock() -> str:
    return time.strftime("%H:%M:%S")


@dataclass
class FrameStats:
    """What the frame timer did: for tests and for measuring bursts."""

    changes: int = 0  # change notifications received from the subscriptions
    frames: int = 0  # timer ticks
    applied: int = 0  # ticks that changed the table
    deferred: int = 0  # ticks that left a pending change for later (the table draws slowly)
    max_apply_seconds: float = 0.0  # the slowest table update (not counting its drawing)


class _LogBridge(logging.Handler):
    """Sends warnings of the client (and, in demo mode, of the server) to the app's log."""

    def __init__(self, sink: EventLog) -> None:
        super().__init__(logging.WARNING)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break the app
            message = str(record.msg)
        self._sink.post("error" if record.levelno >= logging.ERROR else "info", message)


class MotiaTui(App[int]):
    """A live view of one stream group (or item), an AI message, and a log."""

    CSS_PATH = "motia_tui.tcss"
    TITLE = "motia-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add todo"),
        Binding("c", "complete", "Complete"),
        Binding("d", "delete", "Delete"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        options: Options,
        *,
        reconnect: ReconnectPolicy | bool = True,
        transport: TransportFactory | None = None,
        clock: Callable[[], str] = _wall_clock,
        log_events: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        self.options = options
        self._reconnect = reconnect
        self._transport = transport
        self._clock = clock
        self._log_events = log_events
        self.stats = FrameStats()
        self.client: AsyncStreamClient | None = None
        self.http: AsyncMotiaHttp | None = None
        self._stub: Any = None  # the demo's StubServer
        self._rows: GroupSubscription[Any] | ItemSubscription[Any] | None = None
        self._ai: ItemSubscription[Any] | None = None
        self._url = public_url(options.url)
        self._rows_dirty = False
        self._next_table_update = 0.0
        self._ai_dirty = False
        self._connection: StateChange | None = None
        self._retry_at: float | None = None
        self._refused_auth: str | None = None
        self._refused_join: str | None = None
        self._start_error: str | None = None
        self._bridge: _LogBridge | None = None
        self._bridged: list[logging.Logger] = []
        self._removers: list[Callable[[], None]] = []
        self.events = EventLog(clock, id="log")
        self.table = LiveTable(Columns.for_stream(options.stream), id="table")
        self.ai_panel = AiPanel(self._ai_source(), id="ai")
        self.indicator = ConnectionIndicator(id="status")

    def _ai_source(self) -> str | None:
        group = self.options.openai_group
        return None if group is None else f"{OPENAI_STREAM}/{group}/{OPENAI_ITEM}"

    # -- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Top line, table and AI panel side by side, the log, the footer."""
        with Horizontal(id="topbar"):
            yield Static(self._title_text(), id="title", markup=False)
            yield self.indicator
        with Horizontal(id="main"):
            yield self.table
            yield self.ai_panel
        yield self.events
        yield Footer()

    def _title_text(self) -> str:
        where = "demo server" if self.options.demo else self._url
        return f"motia-tui · {self.options.room} · {where}"

    def on_mount(self) -> None:
        """Start the frame timer and, in the background, the connection."""
        self.table.border_title = self.options.room
        self.events.border_title = "events & errors"
        self.table.focus()
        self._bridge = _LogBridge(self.events)
        names = ["motia_client"] + (["server_stub", "uvicorn"] if self.options.demo else [])
        for name in names:
            target = logging.getLogger(name)
            target.addHandler(self._bridge)
            self._bridged.append(target)
        self.set_interval(1 / self.options.fps, self._frame)
        self.run_worker(self._start(), name="connect", group="connect", exit_on_error=False)

    async def on_unmount(self) -> None:
        """Close the client, the HTTP helper and the demo server."""
        for remove in self._removers:
            remove()
        self._removers.clear()
        if self.client is not None:
            await self.client.close()
        if self.http is not None:
            await self.http.close()
        if self._stub is not None:
            await self._stub.stop()
        for target in self._bridged:
            if self._bridge is not None:
                target.removeHandler(self._bridge)
        self._bridged.clear()

    # -- connecting -------------------------------------------------------------------

    async def _start(self) -> None:
        try:
            await self._connect()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a demo server that cannot start, a bad token...
            self._start_error = str(exc) or type(exc).__name__
            self.events.post("error", f"cannot start: {self._start_error}")
            logger.debug("start failed", exc_info=True)

    async def _connect(self) -> None:
        options = self.options
        url, http_url = options.url, options.base_http_url
        if options.demo:
            url, http_url = await self._start_demo()
        self._url = public_url(url)
        injected: dict[str, Any] = {}
        if self._transport is not None:  # tests inject an in-memory socket
            injected["transport"] = self._transport
        client = AsyncStreamClient(
            url, token=options.token, auth=options.auth, reconnect=self._reconnect, **injected
        )
        self.client = client
        self.http = AsyncMotiaHttp(http_url, token=options.token)
        self._removers.append(client.on_state_change(self._on_connection))
        rows: GroupSubscription[Any] | ItemSubscription[Any]
        if options.item is None:
            rows = client.subscribe_group(options.stream, options.group, sort_key=options.sort)
        else:
            rows = client.subscribe_item(options.stream, options.group, options.item)
        self._rows = rows
        self._removers.append(rows.add_change_listener(self._on_rows))
        self._removers.append(rows.on_error(self._on_subscription_error))
        if self._log_events is None:  # every custom event type
            self._removers.append(rows.on_any_event(self._on_event))
        else:
            for event_type in self._log_events:
                on_one = partial(self._on_event, event_type)
                self._removers.append(rows.on_event(event_type, on_one))
        if options.openai_group is not None:
            ai = client.subscribe_item(OPENAI_STREAM, options.openai_group, OPENAI_ITEM)
            self._ai = ai
            self._removers.append(ai.add_change_listener(self._on_ai))
            self._removers.append(ai.on_error(self._on_subscription_error))
        await client.connect(wait=False)

    async def _start_demo(self) -> tuple[str, str]:
        try:
            from server_stub import StubServer
        except ImportError:
            raise RuntimeError(
                "--demo needs the reference server: pip install 'motia-client[server]'"
            ) from None
        self.events.post("info", "starting the demo server…")
        stub = StubServer(host="127.0.0.1", port=0, demo=True)
        self._stub = stub
        await stub.start()
        self.events.post("info", f"demo server on {stub.http_url}")
        return stub.ws_url, stub.http_url

    # -- listeners: they only record; the frame timer draws -------------------------------

    def _on_rows(self, _: Any) -> None:
        self.stats.changes += 1
        self._rows_dirty = True
        self._refused_join = None

    def _on_ai(self, _: Any) -> None:
        self._ai_dirty = True

    def _on_event(self, event_type: str, data: Any) -> None:
        self.events.post("event", f"{event_type} {compact(data, LOG_CHARS)}")

    def _on_subscription_error(self, error: MotiaError) -> None:
        if self.client is not None and error is self.client.error:
            return  # the client failed: the connection line and its log line say so
        if isinstance(error, SubscriptionRefused):
            room = f"{error.stream}/{error.group_id}"
            if error.item_id is not None:
                room += f"/{error.item_id}"
            self._refused_join = f"{room}: {error.reason or 'unauthorized'}"
        self.events.post("error", str(error))

    def _on_connection(self, change: StateChange) -> None:
        self._connection = change
        state = change.state
        if state is ConnectionState.RECONNECTING:
            self._retry_at = asyncio.get_running_loop().time() + (change.retry_in or 0.0)
            self.events.post(
                "error",
                f"connection: {change.reason}; retry {change.attempt} "
                f"in {change.retry_in or 0.0:.1f}s",
            )
        elif state is ConnectionState.OPEN:
            self._refused_auth = None
            self.events.post("info", f"connected to {self._url}")
        elif state is ConnectionState.FAILED:
            self.events.post("error", f"connection failed: {change.reason}")
            if isinstance(change.error, AuthenticationError):  # refused credentials
                status = change.error.status
                self._refused_auth = f"the server refused the credentials (HTTP {status})"

    # -- the frame ----------------------------------------------------------------------

    def _frame(self) -> None:
        """Apply the latest state to the widgets (runs ``fps`` times a second)."""
        self.stats.frames += 1
        if self._rows_dirty:
            self._update_table()
        if self._ai_dirty and self._ai is not None:
            self._ai_dirty = False
            self.ai_panel.show(self._ai.state)
        self.indicator.show(self.status)
        self.events.flush()

    def _update_table(self) -> None:
        # Each table update costs a redraw of every visible cell: pace updates so
        # that drawing the table takes at most about 1 / (1 + DRAW_BUDGET) of the time.
        started = time.perf_counter()
        if started < self._next_table_update:
            self.stats.deferred += 1
            return
        self._rows_dirty = False
        if self.table.show(self._current_rows()):
            self.stats.applied += 1
            self._next_table_update = started + DRAW_BUDGET * self.table.render_cost
        count = self.table.row_count
        subtitle = f"{count} item" + ("" if count == 1 else "s")
        if self.table.border_subtitle != subtitle:
            self.table.border_subtitle = subtitle
        elapsed = time.perf_counter() - started
        self.stats.max_apply_seconds = max(self.stats.max_apply_seconds, elapsed)

    def _current_rows(self) -> list[Row]:
        rows = self._rows
        if rows is None:
            return []
        if isinstance(rows, ItemSubscription):
            item = rows.state
            return [] if item is None or rows.item_id is None else [(rows.item_id, item)]
        by_id = rows.items_by_id
        if self.options.sort is None:
            return list(by_id.items())  # the group's own order
        ids = {id(item): key for key, item in by_id.items()}
        return [(ids[id(item)], item) for item in rows.state]

    @property
    def status(self) -> Status:
        """What the connection line shows now."""
        if self._start_error is not None:
            return Status(ConnectionState.FAILED, self._url, reason=self._start_error)
        change = self._connection
        if change is None:
            return Status(ConnectionState.CONNECTING, self._url)
        retry_in = None
        if change.state is ConnectionState.RECONNECTING and self._retry_at is not None:
            retry_in = max(0.0, self._retry_at - asyncio.get_running_loop().time())
        return Status(
            change.state,
            self._url,
            attempt=change.attempt,
            retry_in=retry_in,
            reason=change.reason,
            refused=self._refused_auth or self._refused_join,
        )

    # -- keys ----------------------------------------------------------------------------

    def action_add(self) -> None:
        """Ask for a description (and a due date), then ``POST /todo``."""
        self.push_screen(AddTodoScreen(), self._add)

    def _add(self, draft: TodoDraft | None) -> None:
        if draft is None:
            return
        body: dict[str, Any] = {"description": draft.description}
        if draft.due_date is not None:
            body["dueDate"] = draft.due_date
        self._http_call("POST", "/todo", body, f"add {draft.description!r}")

    def action_complete(self) -> None:
        """``POST /todo/{id}/complete`` for the selected row."""
        row_id = self.table.selected_id
        if row_id is None:
            self.events.post("info", "complete: no row selected")
            return
        path = f"/todo/{quote(row_id, safe='')}/complete"
        self._http_call("POST", path, None, f"complete {self._row_label(row_id)}")

    def action_delete(self) -> None:
        """``DELETE /todo/{id}`` for the selected row."""
        row_id = self.table.selected_id
        if row_id is None:
            self.events.post("info", "delete: no row selected")
            return
        path = f"/todo/{quote(row_id, safe='')}"
        self._http_call("DELETE", path, None, f"delete {self._row_label(row_id)}")

    def _row_label(self, row_id: str) -> str:
        """How a log line names a row: its description when it has one, else its id."""
        item = self.table.item(row_id)
        description = item.get("description") if isinstance(item, Mapping) else None
        return repr(compact(description, 40)) if isinstance(description, str) else row_id

    def _http_call(self, method: str, path: str, body: Any, what: str) -> None:
        self.run_worker(self._call(method, path, body, what), group="http", exit_on_error=False)

    async def _call(self, method: str, path: str, body: Any, what: str) -> None:
        http = self.http
        if http is None:
            self.events.post("error", f"{what}: not connected yet")
            return
        try:
            await http.call(method, path, json=body)
        except asyncio.CancelledError:
            raise
        except HttpError as exc:
            self.events.post("error", f"{what} failed: {_http_error(exc)}")
        except MotiaError as exc:
            self.events.post("error", f"{what} failed: {exc}")
        except Exception as exc:  # never a traceback on the screen
            self.events.post("error", f"{what} failed: {type(exc).__name__}: {exc}")
            logger.debug("HTTP call failed", exc_info=True)
        else:
            self.events.post("info", f"{what}: ok")


def _http_error(exc: HttpError) -> str:
    body = exc.body
    detail = body.get("error") if isinstance(body, dict) else body
    return f"HTTP {exc.status} from {exc.method} {exc.url}" + (f": {detail}" if detail else "")
