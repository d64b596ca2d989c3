"""Shared fixtures for the stream client tests (``test_client_*``).

Socket servers listen on 127.0.0.1 and a free port and are stopped by the
fixture that started them; tests that need no socket use the in-memory
``FakeMotiaServer``. Clients made through ``make_client`` and ``fake_client``
use a short backoff and are closed at teardown.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from motia_client import AsyncStreamClient, ConnectionState, ReconnectPolicy, StateChange
from motia_client.testing import FakeMotiaServer
from tests.client.wsserver import WsServer

FAST = ReconnectPolicy(initial=0.02, factor=2.0, cap=0.1)
TRANSPORTS = ("websockets",)
WAIT = 5.0


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Each socket test runs on both transports."""
    name: str = request.param
    return name


@pytest.fixture
async def make_server() -> AsyncIterator[Callable[..., Awaitable[WsServer]]]:
    """Start :class:`WsServer` instances; every one is stopped at teardown."""
    servers: list[WsServer] = []

    async def make(**options: Any) -> WsServer:
        server = WsServer(**options)
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[WsServer]]) -> WsServer:
    """A Motia 0.x-dialect server with no auth."""
    return await make_server()


@pytest.fixture
async def make_client(transport: str) -> AsyncIterator[Callable[..., AsyncStreamClient]]:
    """Build clients on the test's transport with a fast backoff; all closed at teardown."""
    clients: list[AsyncStreamClient] = []

    def make(url: str, **options: Any) -> AsyncStreamClient:
        options.setdefault("reconnect", FAST)
        options.setdefault("transport", transport)
        client = AsyncStreamClient(url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def fake() -> FakeMotiaServer:
    """An in-memory Motia 0.x server (``motia_client.testing``): no socket."""
    return FakeMotiaServer()


@pytest.fixture
async def fake_client() -> AsyncIterator[Callable[..., AsyncStreamClient]]:
    """Build clients on a :class:`FakeMotiaServer` with a fast backoff; all closed at teardown.

    ``fake_client(server, **options)``: the client is not connected yet.
    """
    clients: list[AsyncStreamClient] = []

    def make(server: FakeMotiaServer, **options: Any) -> AsyncStreamClient:
        options.setdefault("reconnect", FAST)
        client = AsyncStreamClient(server.url, transport=server.transport, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


class StateLog:
    """Records a client's :class:`StateChange` list and lets a test wait for a state."""

    def __init__(self, client: AsyncStreamClient) -> None:
        self.changes: list[StateChange] = []
        self._event = asyncio.Event()
        client.on_state_change(self._record)

    def _record(self, change: StateChange) -> None:
        self.changes.append(change)
        self._event.set()

    @property
    def states(self) -> list[ConnectionState]:
        """The new state of each change, in order."""
        return [c.state for c in self.changes]

    async def wait(self, state: ConnectionState, count: int = 1, timeout: float = WAIT) -> None:
        """Wait until ``state`` has been entered ``count`` times."""

        async def run() -> None:
            while self.states.count(state) < count:
                self._event.clear()
                await self._event.wait()

        await asyncio.wait_for(run(), timeout)


def assert_nothing_left(client: AsyncStreamClient) -> None:
    """``close()`` left no task, listener, room or socket behind."""
    current = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    # Tasks of the client, its transports and their libraries (the test server's are not).
    markers = ("motia_client", "websockets/asyncio/client", "asyncio/connection.py")
    ours = [t for t in others if any(m in repr(t) for m in markers)]
    assert ours == [], ours
    assert client.state is ConnectionState.CLOSED
    assert client._tasks == set()
    assert client.loop is None  # the supervisor task is gone
    assert not client._state_listeners
    assert client._session.rooms == {}
    assert not [t for t in threading.enumerate() if t.name == "motia-client-loop"]


@dataclass(frozen=True)
class Tls:
    """A self-signed certificate for 127.0.0.1, and contexts built from it."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """The server side."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed certificate made with the ``openssl`` CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed; the wss:// tests need it")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return Tls(cert, key)
