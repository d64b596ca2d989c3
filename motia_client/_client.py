"""AsyncStreamClient: the asyncio client; the session holds the rules, the supervisor the I/O.

The protocol's rules live in the sans-I/O :class:`~motia_client._session.Session`;
the socket, the clock and the retries in the :class:`~motia_client._supervisor.Supervisor`
task, which runs apart from everything that can stop it (it never cancels
itself, and an unexpected error in it fails the client visibly). This class is
what users hold: the connection's lifecycle and state, the subscriptions, and
the tasks it owns, all stopped by :meth:`close`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from motia_client._auth import redact_url
from motia_client._config import ClientOptions, Config
from motia_client._exceptions import ClientClosedError, MotiaConnectionError, MotiaError
from motia_client._lifecycle import ConnectionState, StateChange
from motia_client._listeners import Listeners
from motia_client._session import Session, SubscriberSink, View
from motia_client._subscription import GroupSubscription, ItemSubscription
from motia_client._supervisor import Supervisor

if TYPE_CHECKING:
    from pydantic import BaseModel
    from typing_extensions import Unpack

__all__ = ["AsyncStreamClient"]

logger = logging.getLogger("motia_client")
M = TypeVar("M", bound="BaseModel")
StateListener = Callable[[StateChange], Any]


class AsyncStreamClient:
    """An asyncio client for Motia streams over one WebSocket (docs: "The client").

    ``url`` is the stream endpoint, or a list of them to fail over between (each
    new attempt goes to the next). The keyword options are :class:`ClientOptions`.
    """

    def __init__(self, url: str | Sequence[str], **options: Unpack[ClientOptions]) -> None:
        config = Config.build(url, options)
        self._session = Session(token_callable=callable(config.token), wake=self._wake)
        self._supervisor = Supervisor(config, self._session, self)
        self._state_listeners: Listeners[StateListener] = Listeners(self.spawn)
        self._task: asyncio.Task[None] | None = None  # the supervisor's
        self._tasks: set[asyncio.Task[Any]] = set()
        self._opened: asyncio.Future[None] | None = None
        self.error: MotiaError | None = None  #: what made the client fail, if it did

    # -- state ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The stream URL the client is on (or tries next)."""
        return self._supervisor.url

    @property
    def state(self) -> ConnectionState:
        """Where the connection stands now."""
        return self._session.state

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the client runs on (``None`` until :meth:`connect`)."""
        return self._task.get_loop() if self._task is not None else None

    @property
    def is_connected(self) -> bool:
        """Whether the socket is open."""
        return self.state is ConnectionState.OPEN

    def on_state_change(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(change)`` on every :class:`StateChange`; return a remover."""
        return self._state_listeners.add(listener)

    def off_state_change(self, listener: StateListener) -> None:
        """Stop calling ``listener``."""
        self._state_listeners.remove(listener)

    def status_hint(self) -> str:
        """Where the connection stands, in words (timeouts say it)."""
        state = self.state
        if state is ConnectionState.IDLE:
            return "client is IDLE: call connect(), or open it with `with`/`async with`"
        if self.error is not None:
            return f"client is {state.name}: {self.error}"
        reason = self._supervisor.last_reason
        if state is ConnectionState.RECONNECTING and reason:
            return f"client is RECONNECTING after: {reason}"
        return f"client is {state.name}"

    # -- lifecycle ------------------------------------------------------------------

    async def connect(self, *, wait: bool = True) -> None:
        """Open the connection.

        With ``wait`` (the default) return once the socket is open, or raise the
        first attempt's error and stop. With ``wait=False`` return at once and
        keep trying in the background per the reconnect policy.
        """
        if self.state.is_terminal:
            raise ClientClosedError("this client is closed; create a new one")
        if self._task is not None:
            if wait and self._opened is not None:
                await asyncio.shield(self._opened)
            return
        loop = asyncio.get_running_loop()
        self._opened = loop.create_future()
        self.emit(self._session.connect(url=redact_url(self.url)))
        run = self._supervisor.run(first_must_succeed=wait)
        self._task = loop.create_task(run, name="motia-client-supervisor")
        if wait:
            try:
                await asyncio.shield(self._opened)
            except BaseException:
                await self.close()
                raise

    async def close(self) -> None:
        """Close the socket, end every subscription and stop every task. Idempotent."""
        if self.state is ConnectionState.CLOSED:
            return
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._supervisor.close_transport()
        self._settle(ClientClosedError("the client was closed"))
        self.emit(self._session.close(reason="closed by the user"))
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for pending in tasks:
            pending.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._state_listeners.clear()

    async def __aenter__(self) -> AsyncStreamClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- subscriptions ----------------------------------------------------------------

    @overload
    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: type[M]
    ) -> ItemSubscription[M]: ...
    @overload
    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: None = None
    ) -> ItemSubscription[dict[str, Any]]: ...
    def subscribe_item(
        self, stream: str, group_id: str, item_id: str, *, model: type[BaseModel] | None = None
    ) -> ItemSubscription[Any]:
        """Follow one item; joined now if open, else as soon as the socket opens."""
        return ItemSubscription(self, stream, group_id, item_id, model=model)

    @overload
    def subscribe_group(
        self, stream: str, group_id: str, *, sort_key: str | None = None, model: type[M]
    ) -> GroupSubscription[M]: ...
    @overload
    def subscribe_group(
        self, stream: str, group_id: str, *, sort_key: str | None = None, model: None = None
    ) -> GroupSubscription[dict[str, Any]]: ...
    def subscribe_group(
        self,
        stream: str,
        group_id: str,
        *,
        sort_key: str | None = None,
        model: type[BaseModel] | None = None,
    ) -> GroupSubscription[Any]:
        """Follow every item of a group, ordered by ``sort_key`` if given."""
        return GroupSubscription(self, stream, group_id, sort_key=sort_key, model=model)

    def attach(
        self,
        sink: SubscriberSink,
        stream: str,
        group_id: str,
        item_id: str | None,
        sort_key: str | None,
        model: type[BaseModel] | None,
    ) -> View[Any]:
        """Subscribe a subscription to its room (``SubscriptionOwner``); return its view."""
        if self.state.is_terminal:
            raise ClientClosedError(f"this client is {self.state.value}; create a new one")
        return self._session.subscribe(
            sink, stream, group_id, item_id, sort_key=sort_key, model=model
        )

    async def detach(self, sink: SubscriberSink) -> None:
        """Unsubscribe a subscription; wait until its leave (if any) was sent."""
        self._session.unsubscribe(sink)
        sending = self._supervisor.sending
        if sending is not None and not sending.done():
            await asyncio.wait((sending,))  # frames go out in order: the leave is in it

    # -- what the supervisor tells (Host) -----------------------------------------------

    def emit(self, change: StateChange) -> None:
        """Tell the state listeners of ``change``."""
        logger.debug(
            "connection %s -> %s (%s)", change.previous.value, change.state.value, change.reason
        )
        self._state_listeners.emit(change)

    def opened(self) -> None:
        """A connection opened: ``connect()`` returns."""
        self._settle(None)

    def fail(self, error: BaseException) -> None:
        """Stop for good: tell connect(), the state listeners and every subscription."""
        if isinstance(error, MotiaError):
            failure = error
        else:  # a bad token from a callable (ValueError), a token callable that raised...
            failure = MotiaConnectionError(f"cannot connect to {redact_url(self.url)}: {error}")
            failure.__cause__ = error
        self.error = failure
        logger.debug("stream client failed: %s", failure)  # raised or reported, not printed
        self._settle(error if isinstance(error, MotiaError | ValueError | TypeError) else failure)
        self.emit(self._session.fail(failure, reason=str(failure), url=redact_url(self.url)))

    def spawn(self, awaitable: Awaitable[Any], what: str) -> asyncio.Task[None]:
        """Run ``awaitable`` in a task of the client (logging what it raises)."""

        async def guarded() -> None:
            try:
                await awaitable
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("an async %s raised; the client carries on", what)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _wake(self) -> None:
        self._supervisor.act()  # the session has output: frames, timers, a token refresh

    def _settle(self, error: BaseException | None) -> None:
        opened = self._opened
        if opened is None or opened.done():
            return
        if error is None:
            opened.set_result(None)
        else:
            opened.set_exception(error)
            opened.exception()  # retrieved: after connect(wait=False) nobody awaits it

    def __repr__(self) -> str:
        return f"<AsyncStreamClient {redact_url(self.url)} {self.state.value}>"
