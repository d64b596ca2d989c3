"""The websockets transport's byte handling, without a socket: frames cut anywhere.

``_Connection`` cuts the stream into frames itself (the fast path) and hands
anything but a plain message to websockets' protocol. Fed the same bytes in
every possible chunking, it must deliver the same messages, answer pings and
refuse what the protocol refuses.
"""

from __future__ import annotations

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.uri import parse_uri
from websockets.utils import accept_key

from motia_client import ConnectRequest
from motia_client._auth import Credentials
from motia_client._websockets_transport import _Connection, _RedactingLogger

pytestmark = pytest.mark.timeout(30)


class FakeSocket:
    """Stands in for the asyncio transport: records what the connection writes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.aborted

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.written.append(b"")

    def abort(self) -> None:
        self.aborted = True

    close = abort


def open_connection(max_size: int = 1 << 20) -> tuple[_Connection, FakeSocket, list[bytes]]:
    request = ConnectRequest(
        Credentials.build("ws://127.0.0.1:9/", None, "subprotocol"),
        max_size=max_size,
        ping_interval=None,
    )
    protocol = ClientProtocol(
        parse_uri("ws://127.0.0.1:9/"),
        max_size=max_size,
        logger=_RedactingLogger(request.credentials),
    )
    connection = _Connection(protocol, request)
    socket = FakeSocket()
    connection.connection_made(socket)  # type: ignore[arg-type]
    connection.send_request(())
    response = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(protocol.key)}\r\n\r\n"
    ).encode()
    connection.data_received(response)
    assert connection.handshake.done()
    assert protocol.handshake_exc is None
    got: list[bytes] = []
    connection.deliver = got.append
    return connection, socket, got


def frame(opcode: Opcode, data: bytes, fin: bool = True, mask: bool = False) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=mask)


STREAM = b"".join(
    [
        frame(Opcode.TEXT, b'{"a":1}'),
        frame(Opcode.BINARY, b"\x00\x01binary"),
        frame(Opcode.TEXT, b"m" * 300),  # a 16-bit length
        frame(Opcode.PING, b"ping"),
        frame(Opcode.TEXT, b"part1-", fin=False),
        frame(Opcode.PING, b"in-between"),  # control frames may come between fragments
        frame(Opcode.CONT, b"part2-", fin=False),
        frame(Opcode.CONT, b"part3", fin=True),
        frame(Opcode.BINARY, b"L" * 70_000),  # a 64-bit length
        frame(Opcode.TEXT, b""),
    ]
)
MESSAGES = [
    b'{"a":1}',
    b"\x00\x01binary",
    b"m" * 300,
    b"part1-part2-part3",
    b"L" * 70_000,
    b"",
]


def pongs(socket: FakeSocket) -> list[bytes]:
    """The pong frames written (masked with a random key: found by their first byte)."""
    return [w for w in socket.written if w[:1] == b"\x8a"]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000, len(STREAM)])
async def test_messages_arrive_whole_however_the_stream_is_cut(chunk: int) -> None:
    connection, socket, got = open_connection()
    for start in range(0, len(STREAM), chunk):
        connection.data_received(STREAM[start : start + chunk])
    assert got == MESSAGES
    assert len(pongs(socket)) == 2  # both pings answered
    assert not connection.closed
    assert connection.fast


async def test_every_split_point_of_a_small_stream() -> None:
    stream = b"".join(
        [
            frame(Opcode.TEXT, b"one"),
            frame(Opcode.TEXT, b"m" * 300),
            frame(Opcode.PING, b"p"),
            frame(Opcode.TEXT, b"two"),
        ]
    )
    for cut in range(1, len(stream)):
        connection, socket, got = open_connection()
        connection.data_received(stream[:cut])
        connection.data_received(stream[cut:])
        assert got == [b"one", b"m" * 300, b"two"], cut
        assert len(pongs(socket)) == 1


async def test_messages_wait_in_order_until_push_mode() -> None:
    connection, _, _ = open_connection()
    connection.deliver = None
    connection.data_received(frame(Opcode.TEXT, b"a") + frame(Opcode.TEXT, b"b"))
    assert list(connection.messages) == [b"a", b"b"]


def close_sent(socket: FakeSocket) -> int | None:
    closes = [w for w in socket.written if w[:1] == b"\x88"]
    if not closes:
        return None
    last = closes[-1]
    length = last[1] & 0x7F
    mask, payload = last[2:6], last[6 : 6 + length]
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    code: int = Close.parse(data).code
    return code


async def test_a_frame_over_max_size_is_refused_before_it_is_complete() -> None:
    connection, socket, got = open_connection(max_size=1000)
    connection.data_received(frame(Opcode.TEXT, b"ok"))
    big = frame(Opcode.TEXT, b"x" * 5000)
    connection.data_received(big[:100])  # the header says 5000: no need to wait for the rest
    assert got == [b"ok"]
    assert close_sent(socket) == 1009
    assert not connection.fast


async def test_a_fragmented_message_over_max_size_is_refused() -> None:
    connection, socket, got = open_connection(max_size=1000)
    connection.data_received(frame(Opcode.TEXT, b"y" * 400, fin=False))
    connection.data_received(frame(Opcode.CONT, b"y" * 400, fin=False))
    assert close_sent(socket) is None  # 800 bytes so far: fine
    connection.data_received(frame(Opcode.CONT, b"y" * 400, fin=True))
    assert close_sent(socket) == 1009
    assert got == []


async def test_a_masked_frame_from_the_server_is_a_protocol_error() -> None:
    connection, socket, got = open_connection()
    connection.data_received(frame(Opcode.TEXT, b"masked", mask=True))
    assert got == []
    assert close_sent(socket) == 1002


async def test_a_close_frame_is_echoed_and_what_follows_discarded() -> None:
    connection, socket, got = open_connection()
    close = Frame(Opcode.CLOSE, Close(4001, "bye").serialize()).serialize(mask=False)
    connection.data_received(frame(Opcode.TEXT, b"before") + close + frame(Opcode.TEXT, b"after"))
    assert got == [b"before"]
    assert close_sent(socket) == 4001  # echoed
    assert connection.protocol.close_rcvd is not None
    assert connection.close_timer is not None  # the socket is dropped if the server lingers
    connection.connection_lost(None)
    assert connection.closed
    assert connection.close_timer.cancelled()
