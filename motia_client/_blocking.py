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
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from motia_client._client import AsyncStreamClient
from motia_client._exceptions import ClientClosedError, MotiaError
from motia_client._lifecycle import ConnectionState, StateChange
from motia_client._subscription import GroupSubscription, Subscription
from motia_client._views import Items

__all__ = ["BlockingSubscription", "StreamClient"]

R = TypeVar("R")
S = TypeVar("S")


class StreamClient:
    """A blocking Motia stream client: ``with StreamClient(url) as client: ...``.

    Takes the same options as :class:`AsyncStreamClient` (``token``, ``auth``,
    ``ssl``, ``proxy``, ``transport``...). Listeners run on the client's private
    event-loop thread.
    """

    def __init__(self, url: str, **options: Any) -> None:
        self._async = AsyncStreamClient(url, **options)  # validates the options now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- the loop thread ----------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise ClientClosedError("this client is closed; create a new one")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="motia-client-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _run(self, coro: Coroutine[Any, Any, R], timeout: float | None = None) -> R:
        """Run ``coro`` on the client's loop and wait for its result."""
        try:
            loop = self._ensure_loop()
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

    def _call(self, fn: Callable[[], R]) -> R:
        """Run a plain function on the client's loop (where the state lives)."""

        async def call() -> R:
            return fn()

        return self._run(call())

    def _read(self, fn: Callable[[], R]) -> R:
        """Read state: on the client's loop while it runs, directly once it has stopped.

        Without a loop thread nothing changes the state, so a closed (or not yet
        connected) client still answers with the last state it had.
        """
        with self._lock:
            if self._loop is None:
                return fn()
        return self._call(fn)

    # -- lifecycle ------------------------------------------------------------------

    def connect(self, *, wait: bool = True) -> None:
        """Open the connection (see :meth:`AsyncStreamClient.connect`)."""
        try:
            self._run(self._async.connect(wait=wait))
        except BaseException:
            self._stop_loop()
            raise

    def close(self) -> None:
        """Close the connection and stop the private thread. Idempotent."""
        if self._loop is None:
            self._closed = True
            return
        try:
            self._run(self._async.close())
        finally:
            self._stop_loop()
            self._closed = True

    def _stop_loop(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()

    def __enter__(self) -> StreamClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- state ----------------------------------------------------------------------

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

    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: type[BaseModel] | None = None
    ) -> BlockingSubscription[Any]:
        """Follow one item; its ``state`` is the item or ``None``."""
        self._ensure_loop()
        sub = self._call(lambda: self._async.subscribe_item(stream, group_id, item_id, model=model))
        return BlockingSubscription(self, sub)

    def subscribe_group(
        self,
        stream: str,
        group_id: str,
        *,
        sort_key: str | None = None,
        model: type[BaseModel] | None = None,
    ) -> BlockingSubscription[Items[Any]]:
        """Follow a whole group; its ``state`` is the items in order."""
        self._ensure_loop()
        sub = self._call(
            lambda: self._async.subscribe_group(stream, group_id, sort_key=sort_key, model=model)
        )
        return BlockingSubscription(self, sub)

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncStreamClient", "StreamClient", 1)


class BlockingSubscription(Generic[S]):
    """A subscription of :class:`StreamClient`: the async one, with blocking methods."""

    def __init__(self, client: StreamClient, sub: Subscription[Any]) -> None:
        self._client = client
        self._sub = sub
        self.stream = sub.stream
        self.group_id = sub.group_id
        self.item_id = sub.item_id
        self._listeners: dict[Callable[[S], Any], Callable[[Any], Any]] = {}

    @property
    def state(self) -> S:
        """The current state: the item or ``None``, or the items in order."""
        result: S = self._client._read(self._sub._frozen_state)
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
        sub = self._sub
        if not isinstance(sub, GroupSubscription):
            raise TypeError("items_by_id is for group subscriptions")
        return self._client._read(lambda: dict(sub.items_by_id))

    def add_change_listener(self, listener: Callable[[S], Any]) -> Callable[[], None]:
        """Call ``listener(state)`` on the client's thread after every change."""
        sub = self._sub

        def frozen(_: Any) -> Any:
            return listener(sub._frozen_state())

        self._client._call(lambda: sub.add_change_listener(frozen))
        self._listeners[listener] = frozen
        return lambda: self.remove_change_listener(listener)

    def remove_change_listener(self, listener: Callable[[S], Any]) -> None:
        """Stop calling ``listener``."""
        frozen = self._listeners.pop(listener, None)
        if frozen is not None:
            self._client._call(lambda: self._sub.remove_change_listener(frozen))

    def on_event(self, event_type: str, listener: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``listener(data)`` on the client's thread for each custom event."""
        self._client._call(lambda: self._sub.on_event(event_type, listener))
        return lambda: self.off_event(event_type, listener)

    def off_event(self, event_type: str, listener: Callable[[Any], Any]) -> None:
        """Stop calling ``listener`` for ``event_type``."""
        self._client._call(lambda: self._sub.off_event(event_type, listener))

    def on_any_event(self, listener: Callable[[str, Any], Any]) -> Callable[[], None]:
        """Call ``listener(event_type, data)`` on the client's thread for every custom event."""
        self._client._call(lambda: self._sub.on_any_event(listener))
        return lambda: self.off_any_event(listener)

    def off_any_event(self, listener: Callable[[str, Any], Any]) -> None:
        """Stop calling ``listener`` for every custom event."""
        self._client._call(lambda: self._sub.off_any_event(listener))

    def on_error(self, listener: Callable[[MotiaError], Any]) -> Callable[[], None]:
        """Call ``listener(error)`` on the client's thread for refusals and invalid items."""
        return self._client._call(lambda: self._sub.on_error(listener))

    def changes(self, timeout: float | None = None) -> Iterator[S]:
        """Iterate the current state (once synced), then each new state.

        Stops quietly after ``timeout`` seconds in all, or when the subscription
        closes; raises the error that ended it (a refusal, a failed client).
        """
        inbox: queue.Queue[tuple[int, Any]] = queue.Queue()

        async def pump() -> None:
            try:
                async for state in self._sub.changes():
                    inbox.put((0, state))
                inbox.put((1, None))
            except MotiaError as exc:
                inbox.put((2, exc))

        loop = self._client._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(pump(), loop)
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
        result: S = self._client._run(self._sub.wait_for(predicate, timeout))
        return result

    def close(self) -> None:
        """Stop receiving; the last local subscriber of a room sends the leave."""
        if self._sub.closed:
            return
        with contextlib.suppress(ClientClosedError):  # the client closed first: so did we
            self._client._run(self._sub.close())

    def __enter__(self) -> BlockingSubscription[S]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._sub)

    def _repr_html_(self) -> str:
        from motia_client import _notebook

        return _notebook.subscription_html(self._sub, self._client)

    def _ipython_display_(self) -> None:
        """In Jupyter: show the state live (a table or a card), updated as it changes."""
        from motia_client import _notebook

        _notebook.display_subscription(self._sub, self._client)
