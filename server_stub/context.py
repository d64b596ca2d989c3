"""``AppContext``: everything the socket and HTTP layers share, built once per server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .auth import Authenticator
from .frames import Dialect, FrameEncoder
from .limits import DEFAULT_MAX_QUEUE_BYTES
from .stalls import Stalls
from .state import StateStore
from .store import StreamStore
from .streams import HookContext, StreamRegistry
from .tasks import TaskSet


@dataclass
class AppContext:
    """The server's collaborators: store, state, declarations, auth, encoder and tasks."""

    store: StreamStore
    state: StateStore
    streams: StreamRegistry
    auth: Authenticator
    encoder: FrameEncoder
    max_queue: int
    tasks: TaskSet
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
    echo_state_events: bool = False
    stalls: Stalls = field(default_factory=Stalls)
    hooks: HookContext = field(init=False)
    stopping: asyncio.Event = field(init=False)

    def __post_init__(self) -> None:
        self.hooks = HookContext(self.store, self.state)
        self.stopping = asyncio.Event()

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; False (at once) when the server is stopping, so streams end early."""
        if self.stopping.is_set():
            return False
        try:
            await asyncio.wait_for(self.stopping.wait(), max(seconds, 0.0))
        except asyncio.TimeoutError:
            return True
        return False

    @property
    def dialect(self) -> Dialect:
        """The envelope dialect this server speaks."""
        return self.encoder.dialect
