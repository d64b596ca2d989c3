"""What a user reads when connecting fails: the cause in words, the OS text kept, no secret.

Each test drives the real client (``AsyncStreamClient(...).connect()``) against
something a user really points it at by mistake: a closed port, a host that
does not exist, an HTTP server, a wrong path, a server that echoes.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.exceptions import InvalidMessage, InvalidStatus

from motia_client import (
    AsyncStreamClient,
    AuthenticationError,
    MotiaConnectionError,
    StreamClient,
)
from motia_client._proxy import describe_os_error
from server_stub import StubServer
from tests.client.wsserver import free_port

pytestmark = pytest.mark.timeout(60)

TOKEN = "s3cret-token-value"
Answer = Callable[[bytes], bytes]


@asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 that reads the request head and writes ``answer(head)``.

    Yields its ``ws://`` URL; the server and every connection are closed on exit.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(answer(head))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.close()
        await server.wait_closed()


def http(status: str, *headers: str, body: bytes = b"") -> Answer:
    """An answer: one HTTP/1.1 response with ``headers`` and ``body``."""
    lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}", "", ""]
    response = "\r\n".join(lines).encode() + body
    return lambda head: response


async def connect_error(url: str, **options: object) -> BaseException:
    """The exception ``connect()`` raises (the test fails if it connects)."""
    options.setdefault("proxy", None)
    client = AsyncStreamClient(url, **options)  # type: ignore[arg-type]
    try:
        with pytest.raises(MotiaConnectionError) as info:
            await client.connect()
    finally:
        await client.close()
    return info.value


def full_text(exc: BaseException) -> str:
    """What a traceback of ``exc`` would print, its chained causes included."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


async def test_a_closed_port_says_connection_refused_with_the_os_text() -> None:
    port = free_port()
    error = await connect_error(f"ws://localhost:{port}/")
    assert type(error) is MotiaConnectionError
    text = str(error)
    assert text.startswith(f"connection refused: is the server running on localhost:{port}?")
    assert f"could not connect to ws://localhost:{port}/" in text
    assert "Connect call failed" in text  # the OS's own words are kept
    assert isinstance(error.__cause__, ConnectionRefusedError)


async def test_a_proxy_that_is_not_running_is_named_as_the_one_refusing() -> None:
    proxy_port = free_port()
    error = await connect_error(
        "ws://127.0.0.1:9/", proxy=f"http://user:proxy-secret@127.0.0.1:{proxy_port}"
    )
    assert str(error).startswith(
        f"connection refused: is the proxy running on 127.0.0.1:{proxy_port}? "
        f"(could not connect to the proxy http://127.0.0.1:{proxy_port} (for 127.0.0.1:9): "
    )
    assert "Connect call failed" in str(error)
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert "proxy-secret" not in full_text(error)


async def test_an_unknown_host_says_host_not_found() -> None:
    error = await connect_error("ws://nonexistent.invalid:1/")
    assert type(error) is MotiaConnectionError
    assert str(error).startswith("host not found: nonexistent.invalid (")
    assert isinstance(error.__cause__, socket.gaierror)
    assert error.__cause__.strerror is not None
    assert error.__cause__.strerror in str(error)


async def test_an_http_server_answering_200_is_not_a_websocket_upgrade() -> None:
    answer = http(
        "200 OK",
        "Content-Type: text/html",
        "Set-Cookie: session=cookie-value-never-shown",
        body=b"<html>hello</html>",
    )
    async with raw_server(answer) as url:
        error = await connect_error(url)
    assert type(error) is MotiaConnectionError
    assert str(error) == (
        f"the server at {url} answered HTTP 200, not a WebSocket upgrade: is this the stream port?"
    )
    assert isinstance(error.__cause__, InvalidStatus)
    assert "cookie-value-never-shown" not in full_text(error)


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        ("404 Not Found", "is the path right?"),
        ("302 Found", "redirects are not followed"),
        ("503 Service Unavailable", "the server had an error"),
    ],
)
async def test_other_statuses_say_what_to_check(status: str, hint: str) -> None:
    answer = http(status, "Location: ws://other-host.example/?authToken=" + TOKEN)
    async with raw_server(answer) as url:
        error = await connect_error(url, token=TOKEN)
    assert type(error) is MotiaConnectionError
    code = status.split()[0]
    assert f"answered HTTP {code}, not a WebSocket upgrade: {hint}" in str(error)
    assert "other-host" not in full_text(error)
    assert TOKEN not in full_text(error)


async def test_a_403_without_a_token_is_not_called_a_credentials_refusal() -> None:
    async with raw_server(http("403 Forbidden")) as url:
        error = await connect_error(url)
    assert type(error) is MotiaConnectionError  # not terminal: no token to blame
    assert not isinstance(error, AuthenticationError)
    assert "credentials" not in str(error)
    assert "(HTTP 403); no token was sent: is the path right" in str(error)
    assert isinstance(error.__cause__, InvalidStatus)


async def test_a_wrong_path_on_the_stub_says_no_token_was_sent() -> None:
    async with StubServer(port=0) as stub:
        error = await connect_error(stub.ws_url + "streams")
    assert type(error) is MotiaConnectionError
    assert "no token was sent" in str(error)
    assert "credentials" not in str(error)


@pytest.mark.parametrize("auth", ["subprotocol", "header", "query"])
async def test_a_403_with_a_token_refuses_the_credentials_without_quoting_them(
    auth: str,
) -> None:
    async with raw_server(http("403 Forbidden")) as url:
        error = await connect_error(url, token=TOKEN, auth=auth)
    assert isinstance(error, AuthenticationError)
    assert error.status == 403
    assert "refused the credentials (HTTP 403)" in str(error)
    assert TOKEN not in full_text(error)


async def test_a_server_that_echoes_the_request_never_puts_the_token_in_the_error() -> None:
    # websockets quotes the status line it could not parse; here that line holds the token.
    async with raw_server(lambda head: head) as url:
        error = await connect_error(url, token=TOKEN, auth="query")
    assert "did not answer in HTTP" in str(error)
    assert TOKEN not in full_text(error)
    assert error.__cause__ is None  # withheld: it quoted the token


async def test_a_server_that_is_not_http_says_so_and_chains_the_cause() -> None:
    async with raw_server(lambda head: b"SSH-2.0-OpenSSH_9.2\r\n\r\n") as url:
        error = await connect_error(url)
    assert str(error) == (
        f"the server at {url} did not answer in HTTP: is this the stream port "
        "(or does it need wss://)?"
    )
    assert isinstance(error.__cause__, InvalidMessage)


async def test_a_server_that_hangs_up_says_it_closed_without_answering() -> None:
    async with raw_server(lambda head: b"") as url:
        error = await connect_error(url)
    assert "closed the connection without answering the WebSocket upgrade" in str(error)
    assert isinstance(error.__cause__, InvalidMessage)


def test_the_blocking_client_raises_the_same_message() -> None:
    port = free_port()
    client = StreamClient(f"ws://127.0.0.1:{port}/", proxy=None)
    with pytest.raises(MotiaConnectionError, match="connection refused: is the server running"):
        client.connect()
    client.close()


def test_a_failure_that_is_raised_is_not_also_printed() -> None:
    # No logging configured (a plain script): Python's last-resort handler would
    # print the client's log records to stderr, next to the exception the script
    # already got. The library's NullHandler keeps stderr for the application.
    script = f"""
import asyncio
from motia_client import AsyncStreamClient, MotiaConnectionError

async def main():
    client = AsyncStreamClient("ws://127.0.0.1:{free_port()}/", proxy=None)
    try:
        await client.connect()
    except MotiaConnectionError as exc:
        print("raised:", exc)

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert "raised: connection refused" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)"), "connection refused"),
        (  # asyncio's merged error when localhost is both ::1 and 127.0.0.1
            OSError(
                "Multiple exceptions: [Errno 111] Connect call failed ('::1', 9, 0, 0), "
                "[Errno 111] Connect call failed ('127.0.0.1', 9)"
            ),
            "connection refused",
        ),
        (
            OSError(
                "Multiple exceptions: [Errno 111] Connect call failed ('::1', 9, 0, 0), "
                "[Errno 101] Network is unreachable"
            ),
            "could not connect",
        ),
        (socket.gaierror(-2, "Name or service not known"), "host not found: localhost"),
        (OSError(), "could not connect to ws://localhost:9/: OSError"),
    ],
)
def test_os_errors_are_described_plainly(error: OSError, expected: str) -> None:
    text = describe_os_error(error, "could not connect to ws://localhost:9/", ("localhost", 9))
    assert text.startswith(expected)
    assert str(error) in text
