"""A tiny HTTP CONNECT proxy on 127.0.0.1 for the proxy tests.

It tunnels to 127.0.0.1 ports only, records each CONNECT request head, can
demand ``Proxy-Authorization: Basic`` credentials, refuse with a chosen
status, and drop every open tunnel. ``stop()`` closes all it opened.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib

from tests.client.conftest import WAIT

_REASONS = {403: "Forbidden", 407: "Proxy Authentication Required", 502: "Bad Gateway"}


class ConnectProxy:
    """``async with ConnectProxy() as proxy: ... proxy.url ...``."""

    def __init__(self, *, user: str | None = None, password: str | None = None) -> None:
        self.expected = (
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if user is not None
            else None
        )
        self.refuse: int | None = None  # answer every CONNECT with this status
        self.silent = False  # read every CONNECT and never answer it
        self.requests: list[str] = []  # each CONNECT request head, as received
        self.tunnels = 0  # CONNECTs answered 200
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.drop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=WAIT)
        if server is not None:
            await asyncio.wait_for(server.wait_closed(), WAIT)

    def drop(self) -> None:
        """Abort every open tunnel (both sides); the proxy keeps listening."""
        for writer in list(self._writers):
            writer.transport.abort()

    def header(self, index: int, name: str) -> str | None:
        """A header of the ``index``-th CONNECT request, or None."""
        for line in self.requests[index].split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.requests.append(head)
            if self.silent:
                await reader.read()  # until the client gives up
                return
            method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
            host, _, port = target.rpartition(":")
            status = self.refuse
            authorization = self.header(-1, "Proxy-Authorization")
            if status is None and self.expected is not None and authorization != self.expected:
                status = 407
            if status is None and (method != "CONNECT" or host != "127.0.0.1"):
                status = 403
            if status is None:
                try:
                    up_reader, upstream = await asyncio.open_connection("127.0.0.1", int(port))
                except OSError:
                    status = 502
            if status is not None:
                extra = "Proxy-Authenticate: Basic realm=test\r\n" if status == 407 else ""
                writer.write(
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'No')}\r\n{extra}"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
                )
                await writer.drain()
                return
            assert upstream is not None
            self._writers.add(upstream)
            self.tunnels += 1
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()
            self._tasks.discard(task)  # type: ignore[arg-type]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
