"""Hostile input for the reference server: its stream socket, its raw TCP port, its HTTP steps.

Every scenario runs next to a well-behaved *witness*: an
:class:`~motia_client.AsyncStreamClient` subscribed to a group the test keeps
writing to. Whatever the garbage does, the witness must end equal to the store,
the hostile sockets that are still open must still be served (a valid join gets
its sync), closed sockets must leave no subscription behind, and the server must
log no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from motia_client import AsyncStreamClient, GroupSubscription, ReconnectPolicy
from server_stub import StubServer
from tests.reliability.fuzzing import JSON as JSON_VALUES
from tests.reliability.fuzzing import hostile_client_frame, mutate
from tests.reliability.harness import wait_until

__all__ = [
    "HTTP_REQUESTS",
    "ServerErrors",
    "Witness",
    "http_request_is_handled",
    "stub_socket_survives",
    "stub_tcp_survives",
]

WITNESS_STREAM = "witness"
STUB_STREAMS = (WITNESS_STREAM, "probe", "s", "t")  # declared: the stub refuses the others
WITNESS_GROUP = "g"


class ServerErrors(logging.Handler):
    """Collects ERROR records (tracebacks above all) from the server's loggers.

    One is expected and left out: uvicorn fails a connection that sends invalid
    UTF-8 in a text frame (RFC 6455 requires it) and logs that with a traceback.
    """

    LOGGERS = ("uvicorn", "server_stub")
    EXPECTED = ("Invalid UTF-8 sequence received from client.",)

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.expected = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in self.LOGGERS and record.msg not in self.EXPECTED:
            self.records.append(record)
        elif record.msg in self.EXPECTED:
            self.expected += 1

    @property
    def messages(self) -> list[str]:
        """One line per error: the message and, if any, the exception type."""
        return [
            f"{r.name}: {r.getMessage()[:120]}"
            + (f" [{r.exc_info[0].__name__}]" if r.exc_info and r.exc_info[0] else "")
            for r in self.records
        ]

    def __enter__(self) -> ServerErrors:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger().removeHandler(self)


class Witness:
    """A well-behaved client of the stub and the writes it must see."""

    def __init__(self, stub: StubServer) -> None:
        self.stub = stub
        self.client = AsyncStreamClient(
            stub.ws_url, transport="websockets", reconnect=ReconnectPolicy(initial=0.05, cap=0.3)
        )
        self.group: GroupSubscription[dict[str, Any]] | None = None
        self.writes = 0

    async def __aenter__(self) -> Witness:
        await self.client.connect()
        self.group = self.client.subscribe_group(WITNESS_STREAM, WITNESS_GROUP)
        await self.group.wait_for(lambda items: True, timeout=5)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.close()

    async def write(self) -> None:
        """One more write the witness must end up holding."""
        self.writes += 1
        key = f"k{self.writes % 20}"
        await self.stub.store.set(WITNESS_STREAM, WITNESS_GROUP, key, {"n": self.writes})

    async def converged(self, timeout: float = 10) -> None:
        """Wait until the witness holds exactly what the store holds."""
        expected = await self.stub.store.list_group(WITNESS_STREAM, WITNESS_GROUP)
        group = self.group
        assert group is not None
        await wait_until(lambda: list(group.state) == expected, timeout, what="witness equal")
        assert self.client.is_connected


async def _join_and_sync(ws: ClientConnection) -> str:
    """Probe ``ws`` with a valid join: ``"synced"``, ``"closed"`` (the server had closed
    it, e.g. 1007 for invalid UTF-8) or ``"silent"`` (open, but no sync in 5 s)."""
    subscription_id = str(uuid.uuid4())
    join = {
        "type": "join",
        "data": {"streamName": "probe", "groupId": "p", "subscriptionId": subscription_id},
    }
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    try:
        await ws.send(json.dumps(join))
        while loop.time() < deadline:
            frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - loop.time()))
            if frame.get("streamName") == "probe" and frame["event"]["type"] == "sync":
                return "synced"
    except ConnectionClosed as closed:
        if closed.rcvd is not None:  # the server closed it, with a reason
            return "closed"
    except asyncio.TimeoutError:
        pass
    return "silent"


async def stub_socket_survives(
    seed: int, count: int, sockets: int = 3, dialect: str = "motia"
) -> dict[str, int]:
    """``count`` hostile frames from each of ``sockets`` raw sockets into the stub.

    The first socket also sends invalid UTF-8 in text frames, for which the
    server must close it (1007); it is then opened again. The others send
    nothing a server may close a socket for, so each must still get the sync of
    a valid join at the end. Returns figures; raises AssertionError on any failure.
    """
    rng = random.Random(seed)
    figures = {"frames": 0, "invalid_utf8_text": 0, "closed_by_server": 0, "probes_ok": 0}
    with ServerErrors() as errors:
        async with (
            StubServer(port=0, dialect=dialect, streams=STUB_STREAMS) as stub,
            Witness(stub) as witness,
        ):  # type: ignore[arg-type]
            raws = [await connect(stub.ws_url, max_size=None) for _ in range(sockets)]
            drains = [asyncio.ensure_future(_drain(ws)) for ws in raws]
            try:
                for index in range(count):
                    for number, ws in enumerate(raws):
                        if ws.state is not State.OPEN:
                            assert number == 0, f"socket {number} was closed: {ws.close_code}"
                            figures["closed_by_server"] += 1
                            await drains[0]
                            raws[0] = ws = await connect(stub.ws_url, max_size=None)
                            drains[0] = asyncio.ensure_future(_drain(ws))
                        frame = hostile_client_frame(rng)
                        invalid = number == 0 and _not_utf8(frame) and rng.random() < 0.2
                        with contextlib.suppress(ConnectionClosed):
                            await ws.send(frame, text=True if invalid else None)
                            figures["frames"] += 1
                            figures["invalid_utf8_text"] += invalid
                    if index % 10 == 0:
                        await witness.write()
                    await asyncio.sleep(0.001)  # the stub (same loop) handles them as they come
                for drain in drains:
                    drain.cancel()
                await asyncio.gather(*drains, return_exceptions=True)
                probes = [await _join_and_sync(ws) for ws in raws]
                figures["probes_ok"] = probes.count("synced")
                assert probes[1:] == ["synced"] * (sockets - 1), probes
                assert probes[0] in ("synced", "closed"), probes
                await witness.converged()
            finally:
                for drain in drains:
                    drain.cancel()
                await asyncio.gather(*drains, return_exceptions=True)
                for ws in raws:
                    await ws.close()
            store: Any = stub.store
            await wait_until(lambda: stub.connection_count == 1, what="hostile sockets gone")
            await wait_until(
                lambda: sum(len(s) for s in store._subs.values()) == 1,
                what="their subscriptions gone",
            )
    assert errors.messages == []
    return figures


def _not_utf8(frame: str | bytes) -> bool:
    if isinstance(frame, str):
        return False
    try:
        frame.decode()
    except UnicodeDecodeError:
        return True
    return False


async def _drain(ws: ClientConnection) -> None:
    """Read and drop whatever the server sends (syncs of accidental joins, refusals)."""
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


# -- raw TCP ---------------------------------------------------------------------------------


def _tcp_garbage(rng: random.Random) -> bytes:
    """Bytes that are not a well-formed HTTP request, or a hostile one."""
    request = (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    choices = [
        rng.randbytes(rng.randint(1, 512)),
        mutate(request, rng),
        request.replace(b"13", b"99"),
        request.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"short"),
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"POST /todo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n{",
        b"POST /todo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /" + bytes(rng.randrange(256) for _ in range(40)) + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n",  # then nothing: an incomplete request
        request[: rng.randrange(len(request))],
    ]
    return rng.choice(choices)


async def _send_raw(port: int, data: bytes, reset: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(65536), 0.05)
    except (ConnectionError, OSError):
        pass
    finally:
        sock = writer.get_extra_info("socket")
        if sock is not None and reset:  # a TCP reset rather than a close
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        writer.close()


async def stub_tcp_survives(seed: int, count: int) -> dict[str, int]:
    """``count`` raw TCP connections with garbage into the stub's port; it keeps serving."""
    rng = random.Random(seed)
    with ServerErrors() as errors:
        async with StubServer(port=0, streams=STUB_STREAMS) as stub, Witness(stub) as witness:
            for index in range(count):
                await _send_raw(stub.port, _tcp_garbage(rng), reset=rng.random() < 0.5)
                if index % 5 == 0:
                    await witness.write()
            await witness.converged()
            async with httpx.AsyncClient(base_url=stub.http_url, timeout=5) as http:
                assert (await http.get("/")).status_code == 200
    assert errors.messages == []
    return {"connections": count}


# -- HTTP ------------------------------------------------------------------------------------

_ROUTES = st.sampled_from(
    [
        ("POST", "/todo"),
        ("POST", "/todo/ping"),
        ("POST", "/todo/x/complete"),
        ("DELETE", "/todo/x"),
        ("POST", "/sse"),
        ("POST", "/chat"),
        ("POST", "/open-ai"),
        ("GET", "/"),
    ]
)
_PATHS = st.sampled_from(
    ["/nope", "/todo/%00/complete", "/todo/%ED%A0%80", "/../etc/passwd", "/todo//complete"]
) | st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"),
    max_size=30,
).map(lambda p: "/" + p.lstrip("/"))
_ANY_ROUTE = st.tuples(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), _PATHS)
_QUERY_KEYS = st.sampled_from(["count", "delay_ms", "seed", "x", ""]) | st.text(max_size=5)
_QUERY_VALUES = st.sampled_from(
    ["0", "1", "-1", "1000", "1001", "99999999999999999999", "", "1e3", "0x10"]
) | st.text(max_size=8)
_CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
        "multipart/form-data; boundary=x",
        "application/vnd.x+json",
        "text/json; charset=latin-1",
    ]
)
_FIELDS = st.dictionaries(
    st.sampled_from(["description", "dueDate", "message", "x"]) | st.text(max_size=5),
    JSON_VALUES | st.text(max_size=30),
    max_size=3,
)
_BODIES = st.one_of(
    _FIELDS.map(lambda d: json.dumps(d).encode()),
    _FIELDS.map(lambda d: json.dumps(d).encode()),
    _FIELDS.map(lambda d: urlencode({k: str(v) for k, v in d.items()}).encode()),
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b'{"description": "\\ud800"}',
            b'{"message": "\\udfff"}',
            b"description=%ED%A0%80",
            b"[" * 50_000,
            b'{"description": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
            b'{"description": "' + b"x" * 20_000 + b'"}',
            b"x" * (1024 * 1024 + 1),
            b"message=" + b"y" * 10_001,
        ]
    ),
)
HTTP_REQUESTS = st.tuples(
    _ROUTES | _ROUTES | _ROUTES | _ANY_ROUTE,
    st.lists(st.tuples(_QUERY_KEYS, _QUERY_VALUES), max_size=3),
    _CONTENT_TYPES,
    _BODIES,
).map(lambda r: (r[0][0], r[0][1], r[1], r[2], r[3]))
"""(method, path, query pairs, content type, body): hostile requests for the HTTP steps."""


def http_request_is_handled(
    http: httpx.Client, request: tuple[str, str, list[tuple[str, str]], str, bytes]
) -> int:
    """Send one request; the answer must be below 500 and, if an error, JSON. Returns the status."""
    method, path, query, content_type, body = request
    headers = {"content-type": content_type} if content_type else {}
    with http.stream(
        method,
        path,
        params=tuple(query),
        headers=headers,
        content=body if method != "GET" else None,
    ) as response:
        status = response.status_code
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return status  # a stream that may be long: its status is what matters
        text = response.read()
    too_busy = path == "/open-ai" and status == 503  # the documented background-task limit
    assert status < 500 or too_busy, (status, text[:200])
    if status >= 400:
        assert "error" in json.loads(text), text[:200]
    return status
