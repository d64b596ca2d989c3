"""Live notebook displays for subscriptions and :mod:`motia_client.rx` observables.

In Jupyter, a subscription or an observable left as a cell's value shows itself:
a group as an HTML table, an item as a small card, events as a short list, with
a line giving the connection state; ``sub.frame_view()`` shows a subscription
as a pandas or polars DataFrame instead (:mod:`motia_client._frames` builds it).
The display is updated in place (``display(..., display_id=True)`` then
``handle.update``) as the stream changes, at most once per :data:`THROTTLE`
seconds and always with the latest state; whatever is still pending when a
cell finishes is flushed then, so a cell never ends on a stale view. Outside a
kernel (plain IPython) it prints a text snapshot once.

Rendering reads the state on the client's loop (the kernel's own loop for an
:class:`~motia_client.AsyncStreamClient`, the private thread of a
:class:`~motia_client.StreamClient`); nothing here runs or nests an event loop.
IPython is imported only when something is displayed.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import html
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from motia_client._lifecycle import ConnectionState, StateChange
from motia_client._loop import Bridge, LoopOwner

__all__ = [
    "THROTTLE",
    "Observed",
    "Publisher",
    "Shown",
    "display_observable",
    "display_subscription",
    "render",
    "subscription_html",
]

logger = logging.getLogger("motia_client")
Bundle = dict[str, str]
# Builds the DataFrame of a frame view, on the client's loop: (frame, number of items).
Framer = Callable[[], tuple[Any, int]]

THROTTLE = 0.25  # seconds between two updates of one display, at most
MAX_ROWS = 50  # rows of a group table (the count says how many there are)
MAX_COLUMNS = 10
MAX_CELL = 60  # characters of one cell
MAX_EVENTS = 20  # events listed by an event display
_WAIT = 5.0  # longest wait for the client's loop to render
_STATE_COLORS = {
    ConnectionState.OPEN: "#1a7f37",
    ConnectionState.CONNECTING: "#9a6700",
    ConnectionState.RECONNECTING: "#9a6700",
    ConnectionState.IDLE: "#656d76",
    ConnectionState.CLOSED: "#656d76",
    ConnectionState.FAILED: "#cf222e",
}
_NOTHING: Any = object()


class Shown(Protocol):
    """What a subscription display reads (an asyncio subscription, on its client's loop)."""

    stream: str
    group_id: str
    item_id: str | None

    @property
    def error(self) -> Any: ...

    @property
    def closed(self) -> bool: ...

    @property
    def synced(self) -> bool: ...

    def frozen_state(self) -> Any: ...

    def add_change_listener(self, listener: Callable[[Any], Any]) -> Callable[[], None]: ...


class Observed(Protocol):
    """What an observable display subscribes to (a reactivex observable)."""

    def subscribe(
        self,
        on_next: Callable[[Any], None],
        on_error: Callable[[Exception], None],
        on_completed: Callable[[], None],
    ) -> Any: ...


# -- rendering (pure) ------------------------------------------------------------------


def render(
    kind: str,
    title: str,
    value: Any = _NOTHING,
    *,
    state: ConnectionState,
    note: str | None = None,
) -> Bundle:
    """Return the ``text/html`` and ``text/plain`` of one view.

    ``kind`` is ``group``, ``item``, ``event`` (``value``: the recent events),
    ``state``, ``pair`` (``value``: ``(items, is_connected)``) or ``frame``
    (``value``: ``(dataframe, number of items)``); ``value`` is omitted while
    there is none yet.
    """
    connected: bool | None = None
    if kind == "pair" and value is not _NOTHING:
        value, connected = value
        kind = "group"
    if kind == "state" and value is not _NOTHING:
        state, value = value, _NOTHING
    head = [title]
    if value is not _NOTHING and kind == "group":
        head.append(f"{len(value)} item{'' if len(value) == 1 else 's'}")
    if value is not _NOTHING and kind == "frame":
        frame, total = value
        head.append(f"{total} item{'' if total == 1 else 's'}")
        if len(frame) < total:
            head.append(f"the first {len(frame)} shown")
    if value is not _NOTHING and kind == "event":
        head.append(f"{len(value)} recent")
    if connected is None:
        label, color = state.value, _STATE_COLORS[state]
    else:
        shown = ConnectionState.OPEN if connected else ConnectionState.RECONNECTING
        label, color = ("connected" if connected else "disconnected"), _STATE_COLORS[shown]
    if note:
        head.append(note)
    html_head = (
        f'<div style="font-family:sans-serif;margin-bottom:4px">'
        f"<strong>{html.escape(head[0])}</strong>"
        + "".join(f" · {html.escape(part)}" for part in head[1:])
        + f' · <span style="color:{color}">&#9679; {label}</span></div>'
    )
    text_head = " · ".join([*head, label])
    if value is _NOTHING:
        body_html, body_text = "", list[str]()
    elif kind == "group":
        body_html, body_text = _table(value)
    elif kind == "item":
        body_html, body_text = _card(value)
    elif kind == "event":
        body_html, body_text = _events(value)
    elif kind == "frame":
        body_html, body_text = _frame(value[0])
    else:
        body_html, body_text = "", []
    return {
        "text/html": f'<div class="motia-client">{html_head}{body_html}</div>',
        "text/plain": "\n".join([text_head, *body_text]),
    }


def _as_mapping(item: Any) -> Mapping[str, Any]:
    dump = getattr(item, "model_dump", None)  # a pydantic model
    if callable(dump):
        dumped: dict[str, Any] = dump(mode="json")
        return dumped
    if isinstance(item, Mapping):
        return item
    return {"value": item}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _table(items: Sequence[Any]) -> tuple[str, list[str]]:
    rows = [_as_mapping(item) for item in items[:MAX_ROWS]]
    columns: dict[str, None] = {"id": None} if any("id" in row for row in rows) else {}
    for row in rows:
        for key in row:
            if not key.startswith("_"):  # server fields such as _createdAt
                columns.setdefault(key, None)
    names = list(columns)[:MAX_COLUMNS]
    cells = [[_cell(row.get(name)) for name in names] for row in rows]
    more = len(items) - len(rows)
    th = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    trs = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in line) + "</tr>"
        for line in cells
    )
    if more > 0:
        trs += f'<tr><td colspan="{max(1, len(names))}">… and {more} more</td></tr>'
    if not rows:
        return "<div><em>no items</em></div>", ["(no items)"]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(names)]
    text = [
        "  ".join(name.ljust(w) for name, w in zip(names, widths, strict=True)).rstrip(),
        *(
            "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in cells
        ),
    ]
    if more > 0:
        text.append(f"… and {more} more")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>", text


def _card(item: Any) -> tuple[str, list[str]]:
    if item is None:
        return "<div><em>no item</em></div>", ["(no item)"]
    fields = [(key, _cell(value)) for key, value in _as_mapping(item).items()]
    rows = "".join(
        f'<tr><th style="text-align:left">{html.escape(key)}</th><td>{html.escape(value)}</td></tr>'
        for key, value in fields
    )
    card = (
        '<div style="display:inline-block;border:1px solid #d0d7de;border-radius:6px;'
        f'padding:4px 8px"><table>{rows}</table></div>'
    )
    width = max((len(key) for key, _ in fields), default=0)
    return card, [f"{key.ljust(width)}  {value}" for key, value in fields]


def _frame(frame: Any) -> tuple[str, list[str]]:
    """A pandas or polars DataFrame as the library renders it (its own display options)."""
    text = str(frame)
    page = frame._repr_html_()  # None when pandas' notebook_repr_html option is off
    if page is None:
        page = f"<pre>{html.escape(text)}</pre>"
    return page, text.splitlines()


def _events(events: Sequence[Any]) -> tuple[str, list[str]]:
    if not events:
        return "<div><em>no events yet</em></div>", ["(no events yet)"]
    lines = [_cell(event) for event in events]
    items = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in lines)
    return f"<ol>{items}</ol>", lines


# -- where displays go ------------------------------------------------------------------


class Handle(Protocol):
    """A shown display that can be replaced in place."""

    def update(self, bundle: Bundle) -> None:
        """Replace the display's content."""


class Publisher(Protocol):
    """Shows bundles; the IPython one is the default, tests pass their own."""

    live: bool  # whether shown displays can be updated in place

    def show(self, bundle: Bundle) -> Handle:
        """Show ``bundle`` and return its handle."""

    def on_cell_end(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the kernel's thread) each time a cell finishes."""


class _IPythonHandle:
    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def update(self, bundle: Bundle) -> None:
        if self._handle is not None:  # None: shown without a display id (not live)
            self._handle.update(bundle, raw=True)


class _IPythonPublisher:
    """Display through IPython; live only inside a kernel (a terminal would reprint)."""

    def __init__(self) -> None:
        from IPython import get_ipython

        self._shell = get_ipython()
        self.live = self._shell is not None and getattr(self._shell, "kernel", None) is not None

    def show(self, bundle: Bundle) -> Handle:
        from IPython import display as ipython_display

        display: Callable[..., Any] = ipython_display.display
        if self._shell is None:
            print(bundle["text/plain"])
            return _IPythonHandle(None)
        return _IPythonHandle(display(bundle, raw=True, display_id=self.live or None))

    def on_cell_end(self, callback: Callable[[], None]) -> None:
        shell = self._shell
        if shell is not None and not getattr(shell, "_motia_client_hooked", False):
            shell.events.register("post_execute", callback)
            shell._motia_client_hooked = True


# -- live displays ----------------------------------------------------------------------

_pending: set[_Live] = set()  # displays with an update scheduled
_pending_lock = threading.Lock()


def _flush_pending() -> None:
    """After each cell: bring every display with a pending update up to date."""
    with _pending_lock:
        pending = list(_pending)
    for live in pending:
        try:
            live.flush_now()
        except Exception:
            logger.exception("a live display could not be updated")


class _Live:
    """One display updated in place, at most once per ``throttle`` seconds.

    ``draw`` returns the current bundle; it is called on the client's loop
    (through ``bridge``), where the state lives.
    """

    def __init__(
        self, draw: Callable[[], Bundle], bridge: Bridge, publisher: Publisher, throttle: float
    ) -> None:
        self._draw = draw
        self._bridge = bridge
        self._publisher = publisher
        self._throttle = throttle
        self._lock = threading.Lock()
        self._handle: Handle | None = None
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self.finished = False

    def show(self, bundle: Bundle) -> None:
        """Show the first bundle (on the caller's thread: the cell's)."""
        self._handle = self._publisher.show(bundle)
        self._last = time.monotonic()
        if self._publisher.live:
            self._publisher.on_cell_end(_flush_pending)
        else:
            self.finished = True

    def changed(self) -> None:
        """The state changed (any thread): update soon, throttled."""
        with self._lock:
            if self.finished or self._scheduled:
                return
            self._scheduled = True
            delay = max(0.0, self._last + self._throttle - time.monotonic())
        with _pending_lock:
            _pending.add(self)
        if not self._bridge.run(lambda: self._arm(delay)):
            self._flush()  # the loop is gone: nothing can change any more

    def _arm(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        # A fresh context: the update is not output of the cell whose task
        # happened to schedule it (the kernel attributes it to the current one).
        self._timer = loop.call_later(delay, self._flush, context=contextvars.Context())

    def _flush(self) -> None:
        with self._lock:
            self._scheduled = False
            timer, self._timer = self._timer, None
        with _pending_lock:
            _pending.discard(self)
        if timer is not None:
            timer.cancel()
        handle = self._handle
        if handle is not None:
            handle.update(self._draw())
        self._last = time.monotonic()

    def flush_now(self) -> None:
        """Apply a pending update now (from the kernel's thread, at the end of a cell)."""
        if self._scheduled:
            _on_loop(self._bridge, self._flush)

    def finish(self) -> None:
        """The source ended: show its last state and stop updating."""
        with self._lock:
            if self.finished:
                return
            self.finished = True
        self._flush()


def _on_loop(bridge: Bridge, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the client's loop and return its result (directly if the loop is gone)."""
    if bridge.on_loop():
        return fn()
    done = threading.Event()
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(fn())
        except Exception as exc:  # handed to the waiting thread
            result.append(exc)
        finally:
            done.set()

    try:
        loop = bridge.loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed() or not loop.is_running():
        return fn()  # nothing can change the state any more
    loop.call_soon_threadsafe(run)
    if not done.wait(_WAIT):
        raise TimeoutError("the stream client's loop did not answer")
    if isinstance(result[0], Exception):
        raise result[0]
    return result[0]


# -- subscriptions ----------------------------------------------------------------------


def _subscription_view(sub: Shown, owner: LoopOwner, frame: Framer | None = None) -> Bundle:
    """The current view of ``sub`` (on the client's loop): a DataFrame if ``frame`` is given."""
    kind = "frame" if frame is not None else "item" if sub.item_id is not None else "group"
    note = None
    if sub.error is not None:
        note = f"ended: {sub.error}"
    elif sub.closed and not owner.state.is_terminal:
        note = "closed"
    elif not sub.synced:
        note = "waiting for the first sync"
    if not sub.synced:
        value = _NOTHING
    elif frame is not None:
        value = frame()
    else:
        value = sub.frozen_state()
    title = "/".join(part for part in (sub.stream, sub.group_id, sub.item_id) if part is not None)
    return render(kind, title, value, state=owner.state, note=note)


def subscription_html(sub: Shown, owner: LoopOwner, *, frame: Framer | None = None) -> str:
    """An HTML snapshot of ``sub``, read on the loop of ``owner`` (its client)."""
    bundle: Bundle = _on_loop(Bridge(owner), lambda: _subscription_view(sub, owner, frame))
    return bundle["text/html"]


def display_subscription(
    sub: Shown,
    owner: LoopOwner,
    *,
    publisher: Publisher | None = None,
    throttle: float = THROTTLE,
    frame: Framer | None = None,
) -> None:
    """Show ``sub`` and keep the display up to date until it or its client (``owner``) ends.

    With ``frame``, the display is the DataFrame it builds (a frame view).
    """
    bridge = Bridge(owner)

    def draw() -> Bundle:
        return _subscription_view(sub, owner, frame)

    live = _Live(draw, bridge, publisher or _IPythonPublisher(), throttle)
    live.show(_on_loop(bridge, draw))
    if live.finished:
        return

    def watch() -> None:
        async_client = owner
        removers: list[Callable[[], None]] = []

        def state_changed(change: StateChange) -> None:
            if change.state.is_terminal:
                for remove in removers:
                    remove()
                live.finish()
            else:
                live.changed()

        removers.append(sub.add_change_listener(lambda _: live.changed()))
        removers.append(async_client.on_state_change(state_changed))
        if sub.closed or async_client.state.is_terminal:
            state_changed(StateChange(async_client.state, async_client.state))

    if not bridge.run(watch):
        live.finish()


# -- observables ------------------------------------------------------------------------


def display_observable(
    observable: Observed,
    bridge: Bridge,
    kind: str,
    title: str,
    *,
    publisher: Publisher | None = None,
    throttle: float = THROTTLE,
) -> None:
    """Subscribe to ``observable`` (of ``kind``) and show its values live until it ends."""
    owner = bridge.owner
    lock = threading.Lock()
    latest: Any = collections.deque(maxlen=MAX_EVENTS) if kind == "event" else _NOTHING
    note: str | None = "waiting for the first value" if kind != "event" else None

    def draw() -> Bundle:
        with lock:
            value = tuple(latest) if kind == "event" else latest
            return render(kind, title, value, state=owner.state, note=note)

    live = _Live(draw, bridge, publisher or _IPythonPublisher(), throttle)
    live.show(draw())
    if live.finished:
        return

    def on_next(value: Any) -> None:
        nonlocal latest, note
        with lock:
            if kind == "event":
                latest.append(value)
            else:
                latest = value
            note = None
        live.changed()

    removers: list[Callable[[], None]] = []

    def ended(why: str | None) -> None:
        nonlocal note
        with lock:
            note = why
        live.finish()

        def unwatch() -> None:
            for remove in removers:
                remove()

        bridge.run(unwatch)

    observable.subscribe(
        on_next,
        lambda error: ended(f"error: {error}"),
        lambda: ended(None if owner.state.is_terminal else "completed"),
    )

    def watch_connection() -> None:
        if not live.finished:
            removers.append(owner.on_state_change(lambda _: live.changed()))

    bridge.run(watch_connection)
