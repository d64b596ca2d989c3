"""StreamClient: the blocking client for scripts, by delegation.

It runs one :class:`AsyncStreamClient` on a private event-loop thread and
forwards every call to it; no protocol logic lives here. Because the loop is
its own, it also works where the calling thread already runs one (Jupyter).
Listeners run on that private thread; the states they and the iterators
receive are immutable snapshots, safe to keep and read from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from motia_client._client import AsyncStreamClient
from motia_client._config import ClientOptions
from motia_client._exceptions import ClientClosedError, MotiaError
from motia_client._feed import ItemChange
from motia_client._items import Items
from motia_client._lifecycle import ConnectionState, StateChange
from motia_client._session import EventGap
from motia_client._subscription import GroupSubscription, Subscription

if TYPE_CHECKING:
    import pandas
    import polars
    from pydantic import BaseModel
    from typing_extensions import Unpack

    from motia_client._frames import FrameView, Library

__all__ = ["BlockingSubscription", "StreamClient"]

R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


class _LoopThread:
    """A private event loop on its own thread, started on first use, stopped by ``stop``."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.closed = False

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started now if needed; ``ClientClosedError`` once stopped for good."""
        with self._lock:
            if self.closed:
                raise ClientClosedError("this client is closed; create a new one")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="motia-client-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, R], timeout: float | None = None) -> R:
        """Run ``coro`` on the loop and wait for its result."""
        try:
            loop = self.loop()
        except ClientClosedError:
            coro.close()  # never to be awaited: say so without a RuntimeWarning
            raise
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a blocking call was made from a listener; use the async client")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def call(self, fn: Callable[[], R]) -> R:
        """Run a plain function on the loop (where the state lives) and return its result."""

        async def call() -> R:
            return fn()

        return self.run(call())

    def read(self, fn: Callable[[], R]) -> R:
        """Read state: on the loop while it runs, directly when it is not running.

        Without a loop thread nothing changes the state, so a closed (or not yet
        connected) client still answers with the last state it had.
        """
        with self._lock:
            if self._loop is None:
                return fn()
        return self.call(fn)

    def stop(self, *, for_good: bool) -> None:
        """Stop the loop and join its thread (``for_good``: it never starts again)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            self.closed = self.closed or for_good
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()


class StreamClient:
    """A blocking Motia stream client: ``with StreamClient(url) as client: ...``.

    Takes the same arguments as :class:`AsyncStreamClient` (``url``, or a list
    of them, and :class:`ClientOptions`). Listeners run on the client's private
    event-loop thread.
    """

    def __init__(self, url: str | Sequence[str], **options: Unpack[ClientOptions]) -> None:
        self._async = AsyncStreamClient(url, **options)  # validates the options now
        self._thread = _LoopThread()

    @property
    def async_client(self) -> AsyncStreamClient:
        """The asyncio client this one delegates to (use it only on :attr:`loop`)."""
        return self._async

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The private event loop the client runs on (started if needed)."""
        return self._thread.loop()

    # -- lifecycle ------------------------------------------------------------------

    def connect(self, *, wait: bool = True) -> None:
        """Open the connection (see :meth:`AsyncStreamClient.connect`)."""
        try:
            self._thread.run(self._async.connect(wait=wait))
        except BaseException:
            self._thread.stop(for_good=True)
            raise

    def close(self) -> None:
        """Close the connection and stop the private thread. Idempotent."""
        try:
            with contextlib.suppress(ClientClosedError):
                self._thread.run(self._async.close())
        finally:
            self._thread.stop(for_good=True)

    def __enter__(self) -> StreamClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- state ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The stream URL the client is on (or tries next)."""
        return self._async.url

    @property
    def state(self) -> ConnectionState:
        """Where the connection stands now."""
        return self._async.state

    @property
    def is_connected(self) -> bool:
        """Whether the socket is open."""
        return self._async.is_connected

    @property
    def error(self) -> MotiaError | None:
        """What made the client fail, if it did."""
        return self._async.error

    def on_state_change(self, listener: Callable[[StateChange], Any]) -> Callable[[], None]:
        """Call ``listener(change)`` (on the client's thread) on every state change."""
        return self._async.on_state_change(listener)

    def off_state_change(self, listener: Callable[[StateChange], Any]) -> None:
        """Stop calling ``listener``."""
        self._async.off_state_change(listener)

    # -- subscriptions --------------------------------------------------------------

    @overload
    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: type[M]
    ) -> BlockingSubscription[M | None]: ...
    @overload
    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: None = None
    ) -> BlockingSubscription[dict[str, Any] | None]: ...
    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: type[BaseModel] | None = None
    ) -> BlockingSubscription[Any]:
        """Follow one item; its ``state`` is the item or ``None``."""
        sub = self._thread.call(
            lambda: self._async.subscribe_item(stream, group_id, item_id, model=model)
        )
        return BlockingSubscription(self._thread, sub, self)

    @overload
    def subscribe_group(
        self, stream: str, group_id: str, *, sort_key: str | None = None, model: type[M]
    ) -> BlockingSubscription[Items[M]]: ...
    @overload
    def subscribe_group(
        self, stream: str, group_id: str, *, sort_key: str | None = None, model: None = None
    ) -> BlockingSubscription[Items[dict[str, Any]]]: ...
    def subscribe_group(
        self,
        stream: str,
        group_id: str,
        *,
        sort_key: str | None = None,
        model: type[BaseModel] | None = None,
    ) -> BlockingSubscription[Any]:
        """Follow a whole group; its ``state`` is the items in order."""
        sub = self._thread.call(
            lambda: self._async.subscribe_group(stream, group_id, sort_key=sort_key, model=model)
        )
        return BlockingSubscription(self._thread, sub, self)

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncStreamClient", "StreamClient", 1)


class BlockingSubscription(Generic[S]):
    """A subscription of :class:`StreamClient`: the async one, with blocking methods."""

    def __init__(self, thread: _LoopThread, sub: Subscription[Any], client: StreamClient) -> None:
        self._thread = thread
        self._sub = sub
        self._client = client
        self.stream = sub.stream
        self.group_id = sub.group_id
        self.item_id = sub.item_id
        self.model = sub.model
        self._listeners: dict[Callable[[S], Any], Callable[[Any], Any]] = {}

    @property
    def subscription(self) -> Subscription[Any]:
        """The asyncio subscription this one wraps (use it only on the client's loop)."""
        return self._sub

    @property
    def state(self) -> S:
        """The current state: the item or ``None``, or the items in order."""
        result: S = self._thread.read(self._sub.frozen_state)
        return result

    @property
    def synced(self) -> bool:
        """Whether the first state from the server has arrived."""
        return self._sub.synced

    @property
    def error(self) -> MotiaError | None:
        """Why the subscription ended, if it ended badly (e.g. a refusal)."""
        return self._sub.error

    @property
    def closed(self) -> bool:
        """Whether the subscription is closed."""
        return self._sub.closed

    @property
    def items_by_id(self) -> Mapping[str, Any]:
        """For a group: a snapshot mapping of id to item."""
        group = self._group("items_by_id")
        return self._thread.read(lambda: dict(group.items_by_id))

    @property
    def ids(self) -> tuple[str, ...]:
        """For a group: the items' ids, in the order of :attr:`state`."""
        group = self._group("ids")
        return self._thread.read(lambda: group.ids)

    def __len__(self) -> int:
        group = self._group("len()")
        return self._thread.read(lambda: len(group))

    def _group(self, what: str) -> GroupSubscription[Any]:
        sub = self._sub
        if not isinstance(sub, GroupSubscription):
            raise TypeError(f"{what} is for group subscriptions")
        return sub

    def to_pandas(self) -> pandas.DataFrame:
        """The items as a ``pandas.DataFrame`` (read on the client's loop, built on this thread)."""
        from motia_client import _frames

        _frames.require("pandas", "to_pandas()")
        return _frames.to_pandas(self._thread.read(lambda: _frames.rows(self._sub)))

    def to_polars(self) -> polars.DataFrame:
        """The items as a ``polars.DataFrame`` (read on the client's loop, built on this thread)."""
        from motia_client import _frames

        _frames.require("polars", "to_polars()")
        return _frames.to_polars(self._thread.read(lambda: _frames.rows(self._sub)))

    def frame_view(self, library: Library = "pandas", *, max_rows: int = 50) -> FrameView:
        """A live DataFrame display (Jupyter) of the first ``max_rows`` items."""
        from motia_client._frames import FrameView

        return FrameView(self._sub, self._client, library, max_rows)

    def add_change_listener(self, listener: Callable[[S], Any]) -> Callable[[], None]:
        """Call ``listener(state)`` now if synced, then after each change (on the loop thread)."""
        sub = self._sub

        def frozen(_: Any) -> Any:
            return listener(sub.frozen_state())

        self._listeners[listener] = frozen
        self._thread.call(lambda: sub.add_change_listener(frozen))
        return lambda: self.remove_change_listener(listener)

    def remove_change_listener(self, listener: Callable[[S], Any]) -> None:
        """Stop calling ``listener``."""
        frozen = self._listeners.pop(listener, None)
        if frozen is not None:
            self._thread.call(lambda: self._sub.remove_change_listener(frozen))

    def on_event(self, event_type: str, listener: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``listener(data)`` on the client's thread for each custom event."""
        self._thread.call(lambda: self._sub.on_event(event_type, listener))
        return lambda: self.off_event(event_type, listener)

    def off_event(self, event_type: str, listener: Callable[[Any], Any]) -> None:
        """Stop calling ``listener`` for ``event_type``."""
        self._thread.call(lambda: self._sub.off_event(event_type, listener))

    def on_any_event(self, listener: Callable[[str, Any], Any]) -> Callable[[], None]:
        """Call ``listener(event_type, data)`` on the client's thread for every custom event."""
        self._thread.call(lambda: self._sub.on_any_event(listener))
        return lambda: self.off_any_event(listener)

    def off_any_event(self, listener: Callable[[str, Any], Any]) -> None:
        """Stop calling ``listener`` for every custom event."""
        self._thread.call(lambda: self._sub.off_any_event(listener))

    def on_error(self, listener: Callable[[MotiaError], Any]) -> Callable[[], None]:
        """Call ``listener(error)`` on the client's thread for refusals and invalid items."""
        remove = self._thread.call(lambda: self._sub.on_error(listener))
        return lambda: self._thread.call(remove)

    def on_event_gap(self, listener: Callable[[EventGap], Any]) -> Callable[[], None]:
        """Call ``listener(gap)`` on the client's thread when events may have been missed."""
        remove = self._thread.call(lambda: self._sub.on_event_gap(listener))
        return lambda: self._thread.call(remove)

    def on_item_change(self, listener: Callable[[ItemChange[Any]], Any]) -> Callable[[], None]:
        """Call ``listener(change)`` on the client's thread once per item change."""
        remove = self._thread.call(lambda: self._sub.on_item_change(listener))
        return lambda: self._thread.call(remove)

    def changes(self, timeout: float | None = None) -> Iterator[S]:
        """Iterate the current state (once synced), then each new state.

        Stops quietly after ``timeout`` seconds in all, or when the subscription
        closes; raises the error that ended it (a refusal, a failed client).
        """
        return self._iterate(self._sub.changes, timeout)

    def item_changes(self, timeout: float | None = None) -> Iterator[ItemChange[Any]]:
        """Iterate the item changes (the change feed), like :meth:`changes`."""
        return self._iterate(self._sub.item_changes, timeout)

    def _iterate(
        self, source: Callable[[], AsyncIterator[T]], timeout: float | None
    ) -> Iterator[T]:
        inbox: queue.Queue[tuple[int, Any]] = queue.Queue()

        async def pump() -> None:
            try:
                async for value in source():
                    inbox.put((0, value))
                inbox.put((1, None))
            except MotiaError as exc:
                inbox.put((2, exc))

        future = asyncio.run_coroutine_threadsafe(pump(), self._thread.loop())
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                try:
                    kind, value = inbox.get(timeout=remaining)
                except queue.Empty:
                    return
                if kind == 1:
                    return
                if kind == 2:
                    raise value
                yield value
        finally:
            future.cancel()

    def wait_for(self, predicate: Callable[[S], bool], timeout: float | None = None) -> S:
        """Block until ``predicate(state)`` holds; raise :class:`MotiaTimeout` after ``timeout``."""
        result: S = self._thread.run(self._sub.wait_for(predicate, timeout))
        return result

    def close(self) -> None:
        """Stop receiving; the last local subscriber of a room sends the leave."""
        if self._sub.closed:
            return
        with contextlib.suppress(ClientClosedError):  # the client closed first: so did we
            self._thread.run(self._sub.close())

    def __enter__(self) -> BlockingSubscription[S]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._sub)

    def _repr_html_(self) -> str:
        from motia_client import _notebook

        return _notebook.subscription_html(self._sub, self._client)

    def _ipython_display_(self, **options: Any) -> None:
        """In Jupyter: show the state live (a table or a card), updated as it changes."""
        from motia_client import _notebook

        _notebook.display_subscription(self._sub, self._client, **options)
