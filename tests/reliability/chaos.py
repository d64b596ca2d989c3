"""A fault-injecting TCP proxy for loopback tests.

:class:`ChaosProxy` listens on ``127.0.0.1`` (a free port) and forwards every
connection to a target on ``127.0.0.1``. It injects, per its :class:`Faults`:

- **cuts**: every link is aborted (TCP reset, no close frame) at random moments,
  ``cut_every`` seconds apart, and on demand with :meth:`ChaosProxy.cut`;
- **cuts mid-frame**: a chunk that is being split may be cut after its first
  piece, so the peer holds half a WebSocket frame when the connection dies;
- **delays**: each chunk waits up to ``max_delay`` seconds before it is forwarded
  (order is kept: a direction forwards one chunk at a time);
- **splits**: a chunk is written in several pieces with a pause between them, so
  the receiver gets one frame across several reads.

Everything random comes from ``random.Random(seed)``: the cut schedule from its
own generator (the same seed gives the same intervals), each link from a
generator seeded by the proxy's seed and the link's number. Socket timing is
not reproducible, the plan is. Every task the proxy starts is stopped by
:meth:`ChaosProxy.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import socket
import struct
from dataclasses import dataclass, field

__all__ = ["ChaosProxy", "Faults", "ProxyStats"]

LOOPBACK = "127.0.0.1"
CHUNK = 65536
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on with a zero timeout: close() sends RST


@dataclass(frozen=True)
class Faults:
    """What the proxy does to the bytes it forwards (all off by default)."""

    cut_every: tuple[float, float] | None = None  # seconds between random cuts, (low, high)
    max_delay: float = 0.0  # each chunk waits uniform(0, max_delay) seconds
    delay_probability: float = 0.0  # the share of chunks that are delayed
    split_probability: float = 0.0  # the share of chunks written in 2 to 4 pieces
    cut_mid_frame_probability: float = 0.0  # the share of split chunks cut after one piece


@dataclass
class ProxyStats:
    """What the proxy did."""

    links: int = 0  # connections accepted
    cuts: int = 0  # cut events (each may abort several links)
    links_cut: int = 0  # links aborted by cuts
    mid_frame_cuts: int = 0  # links aborted in the middle of a chunk
    splits: int = 0  # chunks written in pieces
    delays: int = 0  # chunks delayed
    bytes_up: int = 0  # client to target
    bytes_down: int = 0  # target to client
    cut_times: list[float] = field(default_factory=list)  # loop.time() of each cut


class _Link:
    """One proxied connection: two pumps, aborted together."""

    def __init__(
        self,
        proxy: ChaosProxy,
        number: int,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        target: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        self.rng = random.Random(f"{proxy.seed}:{number}")
        self.client = client
        self.target = target
        self.closed = False
        self.pumps: list[asyncio.Task[None]] = []

    def alive(self) -> bool:
        """Whether the link is still open (it may close at any await)."""
        return not self.closed

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.pumps = [
            loop.create_task(self._pump(self.client[0], self.target[1], up=True)),
            loop.create_task(self._pump(self.target[0], self.client[1], up=False)),
        ]

    def abort(self) -> None:
        """Reset both sides at once (TCP RST: no FIN, no close frame)."""
        if self.closed:
            return
        self.closed = True
        for _, writer in (self.client, self.target):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
            writer.transport.abort()

    def finish(self) -> None:
        """Both directions ended: close both sides normally."""
        if self.closed:
            return
        self.closed = True
        for _, writer in (self.client, self.target):
            writer.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        faults = self.proxy.faults
        stats = self.proxy.stats
        rng = self.rng
        try:
            while self.alive():
                chunk = await reader.read(CHUNK)
                if not chunk:
                    if writer.can_write_eof():
                        writer.write_eof()  # half-close: the other direction may go on
                    return
                if faults.delay_probability and rng.random() < faults.delay_probability:
                    stats.delays += 1
                    await asyncio.sleep(rng.uniform(0.0, faults.max_delay))
                if len(chunk) > 1 and rng.random() < faults.split_probability:
                    stats.splits += 1
                    cuts = sorted(rng.sample(range(1, len(chunk)), min(len(chunk) - 1, 3)))
                    bounds = [0, *cuts[: rng.randint(1, len(cuts))], len(chunk)]
                    pieces = [chunk[a:b] for a, b in itertools.pairwise(bounds)]
                    for index, piece in enumerate(pieces):
                        if not self.alive():
                            return
                        self._count(piece, up)
                        writer.write(piece)
                        await writer.drain()
                        if index == 0 and rng.random() < faults.cut_mid_frame_probability:
                            stats.mid_frame_cuts += 1
                            self.abort()
                            return
                        await asyncio.sleep(0.001)  # the receiver reads this piece alone
                else:
                    self._count(chunk, up)
                    writer.write(chunk)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if all(p.done() or p is asyncio.current_task() for p in self.pumps):
                self.finish()  # both directions are over (a cut already closed the link)

    def _count(self, data: bytes, up: bool) -> None:
        if up:
            self.proxy.stats.bytes_up += len(data)
        else:
            self.proxy.stats.bytes_down += len(data)


class ChaosProxy:
    """``async with ChaosProxy(target_port, seed=1, faults=Faults(...)) as proxy``.

    Clients connect to ``proxy.port`` (or ``proxy.ws_url``) instead of the target.
    """

    def __init__(self, target_port: int, *, seed: int = 0, faults: Faults | None = None) -> None:
        self.target_port = target_port
        self.seed = seed
        self.faults = faults or Faults()
        self.stats = ProxyStats()
        self._schedule = random.Random(seed)
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._cutter: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port clients connect to."""
        assert self._server is not None, "the proxy is not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/``."""
        return f"ws://{LOOPBACK}:{self.port}/"

    @property
    def open_links(self) -> int:
        """How many links are open now."""
        return sum(1 for link in self._links if not link.closed)

    def next_interval(self) -> float:
        """The wait before the next random cut (consumes the seeded schedule)."""
        assert self.faults.cut_every is not None
        low, high = self.faults.cut_every
        return self._schedule.uniform(low, high)

    async def start(self) -> None:
        """Listen, and start cutting if ``cut_every`` is set."""
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)
        if self.faults.cut_every is not None:
            self.start_cutting()

    def start_cutting(self) -> None:
        """Cut every link at random moments (``cut_every`` apart) until stopped."""
        if self._cutter is None or self._cutter.done():
            self._cutter = asyncio.get_running_loop().create_task(self._cut_forever())

    async def stop_cutting(self) -> None:
        """Stop the random cuts (links stay open)."""
        cutter, self._cutter = self._cutter, None
        if cutter is not None:
            cutter.cancel()
            await asyncio.gather(cutter, return_exceptions=True)

    def cut(self) -> int:
        """Abort every open link now; return how many were cut."""
        live = [link for link in self._links if not link.closed]
        for link in live:
            link.abort()
        self.stats.cuts += 1
        self.stats.links_cut += len(live)
        self.stats.cut_times.append(asyncio.get_running_loop().time())
        return len(live)

    async def stop(self) -> None:
        """Stop listening, cut everything, and wait for every task the proxy started."""
        await self.stop_cutting()
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        tasks = [*self._handlers, *(p for link in self._links for p in link.pumps)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        self._links.clear()

    async def __aenter__(self) -> ChaosProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _cut_forever(self) -> None:
        while True:
            await asyncio.sleep(self.next_interval())
            self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            try:
                target = await asyncio.wait_for(
                    asyncio.open_connection(LOOPBACK, self.target_port), 5
                )
            except (OSError, asyncio.TimeoutError):
                writer.transport.abort()  # the target is down: so is this connection
                return
            self.stats.links += 1
            link = _Link(self, self.stats.links, (reader, writer), target)
            self._links = {existing for existing in self._links if not existing.closed}
            self._links.add(link)
            link.start()
            await asyncio.gather(*link.pumps, return_exceptions=True)
        except asyncio.CancelledError:
            pass  # stop() cancels handlers; asyncio.start_server logs a handler ending cancelled
        finally:
            self._handlers.discard(task)
