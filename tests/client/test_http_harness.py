"""Test harness for the HTTP/SSE clients, and tests that the harness itself can fail.

* :class:`RawServer`: an HTTP/1.1 server on 127.0.0.1:0 that answers each request
  with exact bytes and pauses (to split frames across reads, drop a connection
  mid-stream or go quiet) and counts the connections it holds open, so an early
  ``break`` can be checked from the server's side.
* :class:`Chunks`: a response body for ``httpx.MockTransport`` delivered in the
  given pieces, to both the sync and the async client.
* :class:`Driver`: runs one scenario on :class:`MotiaHttp` or
  :class:`AsyncMotiaHttp`, so every behaviour is tested on both without writing
  each test twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from motia_client import AsyncMotiaHttp, MotiaHttp
from motia_client.sse import ChatChunk, SseEvent

Step = bytes | float
"""A response script step: bytes are written (and drained), a float is a pause in seconds."""


@dataclass
class Recorded:
    """One request as the server read it (header names lower-cased)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[Recorded], Sequence[Step]]


def head(
    content_type: str | None = "text/event-stream",
    *,
    status: str = "200 OK",
    chunked: bool = False,
    length: int | None = None,
) -> bytes:
    """A response head; without ``chunked`` or ``length`` the body ends when the server closes."""
    lines = [f"HTTP/1.1 {status}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    else:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return f"{len(data):X}\r\n".encode() + data + b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"


class RawServer:
    """A scripted HTTP/1.1 server on 127.0.0.1:0.

    Each request gets the steps ``responder`` returns; the connection is then
    closed, or with ``hold=True`` kept open until the client closes it. Use as
    ``async with`` on the test's loop or ``with server.in_thread()`` for the
    blocking client.
    """

    def __init__(self, responder: Responder, *, hold: bool = False) -> None:
        self._responder = responder
        self._hold = hold
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.requests: list[Recorded] = []
        self.open_connections = 0
        self.total_connections = 0
        self.steps_played = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[RawServer]:
        """Run the server on its own loop in a thread (for the blocking client)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.__aenter__(), loop).result(5)
            try:
                yield self
            finally:
                asyncio.run_coroutine_threadsafe(self.__aexit__(), loop).result(5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.open_connections += 1
        self.total_connections += 1
        try:
            request = await asyncio.wait_for(_read_request(reader), 5)
            if request is None:
                return
            self.requests.append(request)
            play = asyncio.ensure_future(self._play(writer, self._responder(request)))
            eof = asyncio.ensure_future(_wait_eof(reader))
            try:
                await asyncio.wait({play, eof}, return_when=asyncio.FIRST_COMPLETED)
                if play.done() and self._hold:
                    await eof
            finally:
                for pending in (play, eof):
                    pending.cancel()
                await asyncio.gather(play, eof, return_exceptions=True)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self.open_connections -= 1
            self._tasks.discard(task)

    async def _play(self, writer: asyncio.StreamWriter, steps: Sequence[Step]) -> None:
        for step in steps:
            if isinstance(step, bytes):
                writer.write(step)
                await writer.drain()
            else:
                await asyncio.sleep(step)
            self.steps_played += 1


async def _read_request(reader: asyncio.StreamReader) -> Recorded | None:
    try:
        raw_head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Recorded(method, target, headers, body)


async def _wait_eof(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll ``predicate`` (blocking) until true or ``timeout``; returns its last value."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


async def await_until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll ``predicate`` without blocking the loop until true or ``timeout``."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A MockTransport body delivered in exactly these pieces, sync or async."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._pieces = list(pieces)

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


@dataclass
class Driver:
    """One scenario, run on the blocking or the asyncio client."""

    flavor: str
    base_url: str
    options: dict[str, Any] = field(default_factory=dict)

    def _sync(self) -> MotiaHttp:
        return MotiaHttp(self.base_url, **self.options)

    def _async(self) -> AsyncMotiaHttp:
        return AsyncMotiaHttp(self.base_url, **self.options)

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.flavor == "sync":
            with self._sync() as http:
                return http.call(method, path, **kwargs)
        async with self._async() as ahttp:
            return await ahttp.call(method, path, **kwargs)

    async def events(
        self, method: str, path: str, *, sink: list[Any] | None = None, **kwargs: Any
    ) -> list[SseEvent]:
        """All events (also appended to ``sink`` as they arrive, to inspect after a raise)."""
        got: list[Any] = [] if sink is None else sink
        if self.flavor == "sync":
            with self._sync() as http:
                got.extend(http.stream_events(method, path, **kwargs))
        else:
            async with self._async() as ahttp:
                async for event in ahttp.stream_events(method, path, **kwargs):
                    got.append(event)
        return got

    async def chat(
        self, method: str, path: str, *, sink: list[Any] | None = None, **kwargs: Any
    ) -> list[ChatChunk]:
        got: list[Any] = [] if sink is None else sink
        if self.flavor == "sync":
            with self._sync() as http:
                got.extend(http.stream_chat(method, path, **kwargs))
        else:
            async with self._async() as ahttp:
                async for piece in ahttp.stream_chat(method, path, **kwargs):
                    got.append(piece)
        return got

    async def chat_text(self, method: str, path: str, **kwargs: Any) -> str:
        if self.flavor == "sync":
            with self._sync() as http:
                return http.chat_text(method, path, **kwargs)
        async with self._async() as ahttp:
            return await ahttp.chat_text(method, path, **kwargs)


FLAVORS = pytest.mark.parametrize("flavor", ["sync", "async"])


# ------------------------------------------------------ the harness's own tests


async def test_raw_server_counts_a_connection_until_the_peer_closes_it() -> None:
    """The early-exit tests rely on this count dropping when, and only when, a client closes."""
    async with RawServer(lambda _: [head(), b"data: 1\n\n"], hold=True) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await reader.readuntil(b"data: 1\n\n")
        await asyncio.sleep(0.05)
        assert server.open_connections == 1
        writer.close()
        await writer.wait_closed()
        assert await await_until(lambda: server.open_connections == 0)
        assert server.requests[0].method == "GET"


def test_raw_server_in_thread_records_the_request_body() -> None:
    """The body a client sends is recorded byte for byte."""
    with RawServer(lambda _: [head("text/plain", length=2), b"ok"]).in_thread() as server:
        answer = httpx.post(server.url + "/x?a=1", content=b"hello")
    assert answer.text == "ok"
    assert server.requests[0].target == "/x?a=1"
    assert server.requests[0].body == b"hello"
