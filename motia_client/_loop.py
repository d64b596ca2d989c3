"""The way from any thread to the event loop where a client's state lives.

A client's state may only be touched from its loop: the loop an
:class:`~motia_client.AsyncStreamClient` runs on, or the private thread of a
:class:`~motia_client.StreamClient`. The Rx observables and the notebook
displays are used from other threads too; they reach the loop through a
:class:`Bridge` over any :class:`LoopOwner`, which both clients are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from motia_client._exceptions import ClientClosedError
from motia_client._lifecycle import ConnectionState, StateChange

__all__ = ["Bridge", "LoopOwner", "running_loop"]


class LoopOwner(Protocol):
    """A client, as seen by what runs on its loop from elsewhere."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop its state lives on (``None`` while unknown: not connected yet)."""
        ...

    @property
    def state(self) -> ConnectionState:
        """Where its connection stands."""
        ...

    def on_state_change(self, listener: Callable[[StateChange], Any]) -> Callable[[], None]:
        """Call ``listener`` on every state change (on its loop); return a remover."""
        ...


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Bridge:
    """Runs work on a client's loop from any thread, without ever blocking."""

    def __init__(self, owner: LoopOwner) -> None:
        self.owner = owner

    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The client's event loop; ``None`` when it is gone (a closed client).

        Raises :class:`RuntimeError` for an async client that was never
        connected, used from a thread that runs no event loop (its loop is
        unknown until it connects).
        """
        try:
            loop = self.owner.loop
        except ClientClosedError:
            return None
        if loop is not None:
            return loop
        running = running_loop()
        if running is not None:
            return running
        if self.owner.state.is_terminal:
            return None  # closed or failed: there is nothing left to run
        raise RuntimeError("subscribe from the AsyncStreamClient's event loop, or connect it first")

    def run(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` on the client's loop: now if called there, else soon.

        Returns False (and drops ``fn``) when the loop is gone.
        """
        loop = self.loop()
        if loop is None or loop.is_closed():
            return False
        if running_loop() is loop:
            fn()
            return True
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # closed between the check and the call
            return False
        return True

    def on_loop(self) -> bool:
        """Whether the caller runs on the client's loop."""
        try:
            loop = self.loop()
        except RuntimeError:
            return False
        return loop is not None and running_loop() is loop
