"""MotiaHttp and AsyncMotiaHttp against a hostile HTTP server (issue 20, item 10).

A server on 127.0.0.1 streams a 20 MiB error body, a 300 MiB SSE line or an
event of endless ``data:`` lines. The client must read a bounded amount, raise
a clear error and close the connection: tracemalloc measures what the process
held at its peak (the server's share is a few socket buffers), and the server's
count of written pieces shows the client stopped reading long before the end.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from motia_client import HttpError, ProtocolError
from motia_client.sse import DEFAULT_MAX_EVENT_SIZE, DEFAULT_MAX_LINE, EventTooLarge, SseEvent
from tests.client.test_http_harness import FLAVORS, Driver, RawServer, Step, head

MIB = 1024 * 1024
PIECE = 64 * 1024
DEFAULT_MAX_ERROR_BODY = MIB  # the documented default of max_error_body


def endless(prefix: bytes, piece: bytes, total: int) -> list[Step]:
    """``prefix`` then ``piece`` repeated up to ``total`` bytes (one object, many references)."""
    return [prefix, *[piece] * (total // len(piece))]


def sent(server: RawServer, pieces_before: int) -> int:
    """About how many body bytes the server wrote before the client hung up."""
    return max(0, server.steps_played - pieces_before) * PIECE


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Trace allocations in the block; the list gets the peak traced size in bytes."""
    tracemalloc.start()
    peak: list[int] = []
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


@FLAVORS
async def test_a_300_mib_line_is_refused_at_max_line_without_being_held(flavor: str) -> None:
    """Before: the whole line was buffered (1.1 GB for 300 MiB). Now: EventTooLarge near 4 MiB."""
    steps = [head(), b"data: 1\n\n", *endless(b"data: ", b"x" * PIECE, 300 * MIB)]
    got: list[Any] = []
    with RawServer(lambda _: steps).in_thread() as server, peak_memory() as peak:
        with pytest.raises(ProtocolError) as info:
            await Driver(flavor, server.url).events("GET", "/sse", sink=got)
        written = sent(server, 3)
    assert got == [SseEvent("message", 1)]  # what came before the long line was delivered
    error = info.value
    assert isinstance(error, EventTooLarge)
    assert (error.option, error.limit) == ("max_line", DEFAULT_MAX_LINE)
    assert "max_line" in str(error)
    assert written < 64 * MIB, written
    assert peak[0] < 4 * DEFAULT_MAX_LINE, peak[0]


@FLAVORS
async def test_an_event_of_endless_data_lines_is_refused_at_max_event_size(flavor: str) -> None:
    """Short lines that never end the event: each is fine, their sum is not."""
    line = b"data: " + b"y" * 1017 + b"\n"  # 1 KiB a line
    steps = [head(), *endless(b"event: item\n", line * (PIECE // len(line)), 300 * MIB)]
    with RawServer(lambda _: steps).in_thread() as server, peak_memory() as peak:
        with pytest.raises(EventTooLarge, match="max_event_size") as info:
            await Driver(flavor, server.url).chat_text("POST", "/chat")
        written = sent(server, 2)
    assert (info.value.option, info.value.limit) == ("max_event_size", DEFAULT_MAX_EVENT_SIZE)
    assert written < 64 * MIB, written
    assert peak[0] < 4 * DEFAULT_MAX_EVENT_SIZE, peak[0]


@FLAVORS
@pytest.mark.parametrize("how", ["call", "stream"])
async def test_a_20_mib_error_body_is_read_up_to_max_error_body(flavor: str, how: str) -> None:
    """Before: a 20-million-character message. Now: 4 KiB in the message, 1 MiB on .body."""
    total = 20 * MIB
    status = "500 Internal Server Error"
    steps = [head("text/plain", status=status, length=total), *endless(b"", b"E" * PIECE, total)]
    with RawServer(lambda _: steps).in_thread() as server, peak_memory() as peak:
        driver = Driver(flavor, server.url)
        read = driver.call if how == "call" else driver.events
        with pytest.raises(HttpError) as info:
            await read("POST", "/todo")
        written = sent(server, 1)
    error = info.value
    assert error.status == 500
    assert error.body == "E" * DEFAULT_MAX_ERROR_BODY
    message = str(error)
    assert len(message) < 4096 + 300, len(message)
    assert message.startswith(f"POST {server.url}/")
    assert "more characters in .body" in message
    assert f"the body ({total} bytes) was cut at max_error_body={DEFAULT_MAX_ERROR_BODY}" in message
    assert written < 16 * MIB, written
    assert peak[0] < 12 * MIB, peak[0]
