"""MotiaHttp and AsyncMotiaHttp: requests, errors, timeouts, early exit, secrets.

Status and body mapping use ``httpx.MockTransport``; everything that depends on
real reads (splits across TCP reads, drops, quiet servers, early exit) uses
:class:`RawServer` on 127.0.0.1:0, which writes exact bytes. Every test runs on
both clients through :class:`Driver`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import pydantic
import pytest

from motia_client import (
    AsyncMotiaHttp,
    AsyncStreamClient,
    ClientClosedError,
    HttpError,
    MotiaConnectionError,
    MotiaError,
    MotiaHttp,
    MotiaTimeout,
    ProtocolError,
    UnexpectedContentType,
)
from motia_client.sse import SseEvent
from tests.client.test_http_harness import (
    FLAVORS,
    LAST_CHUNK,
    Driver,
    RawServer,
    Recorded,
    await_until,
    chunk,
    free_port,
    head,
    wait_until,
)

BASE = "http://motia.test"
TOKEN = "s3cr3t-T0KEN.value"  # a test token, asserted never to leak


class Todo(pydantic.BaseModel):
    id: str
    description: str
    createdAt: str


def json_transport(status: int, body: Any, seen: list[httpx.Request] | None = None) -> Any:
    """A MockTransport answering ``body`` as JSON with ``status``, recording requests."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            request.read()
            seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


def item_frame(n: int) -> bytes:
    return f'event: item\ndata: {{"n": {n}}}\n\n'.encode()


# ------------------------------------------------------------------ call()


@FLAVORS
async def test_call_sends_json_and_returns_decoded_json(flavor: str) -> None:
    seen: list[httpx.Request] = []
    todo = {"id": "todo-1", "description": "buy milk", "createdAt": "2025-01-01T00:00:00Z"}
    driver = Driver(flavor, BASE + "/api", {"transport": json_transport(200, todo, seen)})
    assert await driver.call("post", "/todo", json={"description": "buy milk"}) == todo
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == BASE + "/api/todo"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert json.loads(request.content) == {"description": "buy milk"}


@FLAVORS
async def test_call_sends_a_form_body_params_and_headers(flavor: str) -> None:
    seen: list[httpx.Request] = []
    driver = Driver(flavor, BASE, {"transport": json_transport(200, {"ok": True}, seen)})
    await driver.call(
        "POST", "/sse", data={"name": "a b", "n": 3}, params={"count": 2}, headers={"X-Trace": "t"}
    )
    request = seen[0]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {"name": ["a b"], "n": ["3"]}
    assert request.url.params["count"] == "2"
    assert request.headers["x-trace"] == "t"


@FLAVORS
async def test_call_validates_into_a_response_model(flavor: str) -> None:
    todo = {"id": "todo-1", "description": "d", "createdAt": "now"}
    driver = Driver(flavor, BASE, {"transport": json_transport(200, todo)})
    assert await driver.call("POST", "/todo", response_model=Todo) == Todo(**todo)
    driver = Driver(flavor, BASE, {"transport": json_transport(200, [todo, todo])})
    assert await driver.call("GET", "/todos", response_model=list[Todo]) == [Todo(**todo)] * 2


@FLAVORS
async def test_call_body_that_does_not_match_the_model_is_a_protocol_error(flavor: str) -> None:
    driver = Driver(flavor, BASE, {"transport": json_transport(200, {"id": "x"})})
    with pytest.raises(ProtocolError, match="does not match Todo") as info:
        await driver.call("POST", "/todo", response_model=Todo)
    assert isinstance(info.value.__cause__, pydantic.ValidationError)


@FLAVORS
async def test_call_empty_body_is_none_and_non_json_is_a_protocol_error(flavor: str) -> None:
    empty = httpx.MockTransport(lambda request: httpx.Response(204))
    assert await Driver(flavor, BASE, {"transport": empty}).call("DELETE", "/todo/1") is None
    html = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>"))
    with pytest.raises(ProtocolError, match="not JSON"):
        await Driver(flavor, BASE, {"transport": html}).call("GET", "/")


@FLAVORS
async def test_non_2xx_raises_http_error_with_the_json_body_and_no_query(flavor: str) -> None:
    """HttpError carries status, the server's JSON body and the request line without query."""
    body = {"error": "Description is required"}
    driver = Driver(flavor, BASE, {"transport": json_transport(400, body)})
    with pytest.raises(HttpError) as info:
        await driver.call("POST", "/todo?authToken=leak", json={})
    error = info.value
    assert (error.status, error.method, error.url, error.body) == (
        400,
        "POST",
        BASE + "/todo",
        body,
    )
    assert "leak" not in str(error)
    assert "Description is required" in str(error)


@FLAVORS
async def test_non_json_error_body_is_kept_as_text(flavor: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="Bad gateway"))
    with pytest.raises(HttpError) as info:
        await Driver(flavor, BASE, {"transport": transport}).call("GET", "/")
    assert (info.value.status, info.value.body) == (502, "Bad gateway")
    empty = httpx.MockTransport(lambda request: httpx.Response(404))
    with pytest.raises(HttpError, match=r"answered HTTP 404: None$") as info:
        await Driver(flavor, BASE, {"transport": empty}).call("GET", "/")
    assert info.value.body is None


@FLAVORS
async def test_a_large_error_body_is_whole_on_the_error_and_cut_in_its_message(
    flavor: str,
) -> None:
    """A 200 KiB JSON error body: all of it on .body, its first 4 KiB in the message."""
    body = {"error": "x" * 200_000, "tail": "END-OF-BODY"}
    driver = Driver(flavor, BASE, {"transport": json_transport(500, body)})
    with pytest.raises(HttpError) as info:
        await driver.call("GET", "/big")
    assert info.value.body == body
    message = str(info.value)
    assert message.startswith("GET http://motia.test/big answered HTTP 500: {'error': 'xxx")
    assert len(message) < 4096 + 200
    assert "more characters in .body" in message
    assert "END-OF-BODY" not in message
    assert "max_error_body" not in message  # the body was not cut: it is whole


@FLAVORS
async def test_max_error_body_bounds_what_is_kept(flavor: str) -> None:
    """With max_error_body=10 a JSON body is cut to 10 bytes (so kept as text), and says so."""
    body = {"error": "Description is required"}
    options = {"transport": json_transport(400, body), "max_error_body": 10}
    with pytest.raises(HttpError) as info:
        await Driver(flavor, BASE, options).call("POST", "/todo", json={})
    assert info.value.body == '{"error":"'
    assert "cut at max_error_body=10 bytes" in str(info.value)
    with pytest.raises(ValueError, match="max_error_body must be a positive"):
        MotiaHttp(BASE, max_error_body=0)


@FLAVORS
async def test_unknown_options_are_refused_like_a_plain_signature(flavor: str) -> None:
    """The options come from one TypedDict; a typo is still a TypeError, not ignored."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'tiemout'"):
        MotiaHttp(BASE, tiemout=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'tiemout'"):
        AsyncMotiaHttp(BASE, tiemout=5)  # type: ignore[call-arg]
    driver = Driver(flavor, BASE, {"transport": json_transport(200, {})})
    with pytest.raises(TypeError, match=r"call\(\) got an unexpected keyword argument 'jsn'"):
        await driver.call("POST", "/todo", jsn={})
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_line'"):
        await driver.call("POST", "/todo", max_line=10)  # a stream option, not a call option
    with pytest.raises(TypeError, match="unexpected keyword argument 'parse_json'"):
        await driver.chat("POST", "/chat", parse_json=False)


@FLAVORS
async def test_an_error_body_in_an_unknown_charset_is_read_as_utf8(flavor: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/plain; charset=x-unknown"}
        return httpx.Response(503, headers=headers, content="d\u00e9j\u00e0 vu".encode())

    with pytest.raises(HttpError) as info:
        await Driver(flavor, BASE, {"transport": httpx.MockTransport(answer)}).call("GET", "/")
    assert info.value.body == "d\u00e9j\u00e0 vu"


@FLAVORS
async def test_json_and_data_together_are_refused(flavor: str) -> None:
    driver = Driver(flavor, BASE, {"transport": json_transport(200, {})})
    with pytest.raises(ValueError, match="not both"):
        await driver.call("POST", "/todo", json={"a": 1}, data={"a": "1"})


@FLAVORS
@pytest.mark.parametrize(
    ("raised", "expected", "text"),
    [
        (httpx.ConnectTimeout("slow"), MotiaTimeout, "could not connect within 1.5 s"),
        (httpx.ReadTimeout("quiet"), MotiaTimeout, "sent nothing for 4.0 s"),
        (httpx.PoolTimeout("pool"), MotiaTimeout, "PoolTimeout"),
        (httpx.ConnectError("refused"), MotiaConnectionError, "could not connect: refused"),
        (httpx.RemoteProtocolError("eof"), MotiaConnectionError, "lost mid-response"),
        (httpx.ReadError("reset"), MotiaConnectionError, "ReadError: reset"),
        (httpx.DecodingError("gzip"), ProtocolError, "could not be decoded"),
    ],
)
async def test_httpx_errors_are_translated_at_the_boundary(
    flavor: str, raised: httpx.RequestError, expected: type[MotiaError], text: str
) -> None:
    """Each httpx failure becomes the most specific MotiaError, chained from the original."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    options = {"transport": httpx.MockTransport(handler), "timeout": 4.0, "connect_timeout": 1.5}
    with pytest.raises(expected, match=text) as info:
        await Driver(flavor, BASE, options).call("GET", "/x?q=1")
    assert info.value.__cause__ is raised
    assert "q=1" not in str(info.value)
    with pytest.raises(expected):
        await Driver(flavor, BASE, options).events("GET", "/x")


@FLAVORS
async def test_connect_and_idle_timeouts_are_separate(flavor: str) -> None:
    seen: list[httpx.Request] = []
    options = {"transport": json_transport(200, {}, seen), "timeout": 7.0, "connect_timeout": 0.5}
    await Driver(flavor, BASE, options).call("GET", "/")
    assert seen[0].extensions["timeout"] == {"connect": 0.5, "read": 7.0, "write": 7.0, "pool": 7.0}


async def test_closed_clients_refuse_calls() -> None:
    http = MotiaHttp(BASE, transport=json_transport(200, {}))
    http.close()
    with pytest.raises(ClientClosedError):
        http.call("GET", "/")
    with pytest.raises(ClientClosedError):
        http.stream_events("GET", "/")
    ahttp = AsyncMotiaHttp(BASE, transport=json_transport(200, {}))
    await ahttp.close()
    with pytest.raises(ClientClosedError):
        await ahttp.call("GET", "/")
    with pytest.raises(ClientClosedError):
        ahttp.stream_chat("GET", "/")


@pytest.mark.parametrize("url", ["ws://localhost:3000", "localhost:3000", "http://"])
def test_base_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        MotiaHttp(url)


# ------------------------------------------------------------------ secrets


@pytest.mark.parametrize("bad", ["", "two words", "line\nbreak", "caf\u00e9", "tab\there"])
def test_a_token_that_cannot_be_a_header_is_refused_without_echoing_it(bad: str) -> None:
    """httpx/h11 would otherwise fail later with the header value in their message."""
    with pytest.raises(ValueError, match="token") as info:
        MotiaHttp(BASE, token=bad)
    if bad:
        assert bad not in str(info.value)


@pytest.mark.parametrize(
    "token", ["abc/def+==", "tok-1.2_3~", "two words", "tab\there", "caf\u00e9", "a\r\nX: 1", ""]
)
def test_one_token_rule_for_the_authorization_header(token: str) -> None:
    """MotiaHttp and the stream client's auth='header' accept and refuse the same tokens."""

    def refusal(make: Any) -> str | None:
        try:
            make()
        except ValueError as exc:
            return str(exc)
        return None

    http = refusal(lambda: MotiaHttp(BASE, token=token))
    stream = refusal(lambda: AsyncStreamClient("ws://127.0.0.1:1/", token=token, auth="header"))
    assert (http is None) == (stream is None) == (token in ("abc/def+==", "tok-1.2_3~"))
    assert http == stream
    if http is not None and token:
        assert token not in http


def test_user_info_in_the_base_url_is_never_shown() -> None:
    """One redactor for every URL shown: no user info, query string or fragment."""
    url = "http://user:pa55word@127.0.0.1:9/api"
    transport = json_transport(500, {"error": "no"})
    with MotiaHttp(url, transport=transport) as http:
        assert repr(http) == "MotiaHttp('http://127.0.0.1:9/api', token=None)"
        with pytest.raises(HttpError) as info:
            http.call("GET", "/x?authToken=tok#frag")
    assert info.value.url == "http://127.0.0.1:9/api/x"
    for secret in ("pa55word", "user", "tok", "frag"):
        assert secret not in str(info.value)


@FLAVORS
async def test_token_is_sent_as_bearer_and_never_shown(
    flavor: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The token is on the wire, and in no repr, log line or exception text."""
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Request] = []
    transport = json_transport(401, {"error": "bad token"}, seen)
    driver = Driver(flavor, BASE, {"transport": transport, "token": TOKEN})
    with pytest.raises(HttpError) as info:
        await driver.call("GET", "/private")
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    texts = [str(info.value), repr(info.value), *info.value.args]
    texts += [repr(MotiaHttp(BASE, token=TOKEN)), repr(AsyncMotiaHttp(BASE, token=TOKEN))]
    texts += [record.getMessage() for record in caplog.records]
    assert any("/private" in record.getMessage() for record in caplog.records)
    assert not [text for text in texts if TOKEN in str(text)]
    assert repr(MotiaHttp(BASE, token=TOKEN)) == "MotiaHttp('http://motia.test/', token='***')"
    assert repr(AsyncMotiaHttp(BASE)) == "AsyncMotiaHttp('http://motia.test/', token=None)"


async def test_token_never_leaks_from_a_failed_stream_over_the_network(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The token reaches the server, and not the logs of a failed SSE request."""
    caplog.set_level(logging.DEBUG)
    server = RawServer(lambda _: [head("application/json", length=2), b"{}"])
    async with server, AsyncMotiaHttp(server.url, token=TOKEN) as http:
        with pytest.raises(UnexpectedContentType) as info:
            async for _ in http.stream_events("POST", "/sse"):
                pass
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(info.value)
    assert caplog.records
    assert not [r for r in caplog.records if TOKEN in r.getMessage()]


# ------------------------------------------------------ SSE over real sockets


@FLAVORS
async def test_seed_sse_shape_with_a_form_body(flavor: str) -> None:
    """The seed's POST /sse: URL-encoded body in, `event: item` frames then `event: done`."""
    frames: list[bytes | float] = [
        item_frame(1),
        0.01,
        item_frame(2),
        0.01,
        b'event: done\ndata: {"total": 2}\n\n',
    ]
    with RawServer(lambda _: [head(), *frames]).in_thread() as server:
        driver = Driver(flavor, server.url)
        events = await driver.events("POST", "/sse", data={"color": "red", "size": "L"})
    assert events == [
        SseEvent("item", {"n": 1}),
        SseEvent("item", {"n": 2}),
        SseEvent("done", {"total": 2}),
    ]
    request = server.requests[0]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["accept"] == "text/event-stream"
    assert parse_qs(request.body.decode()) == {"color": ["red"], "size": ["L"]}


@FLAVORS
async def test_sse_with_a_json_body_and_chunked_encoding(flavor: str) -> None:
    body = [chunk(item_frame(1)), chunk(b'event: done\ndata: {"total": 1}\n\n'), LAST_CHUNK]
    with RawServer(lambda _: [head(chunked=True), *body]).in_thread() as server:
        events = await Driver(flavor, server.url).events("POST", "/sse", json={"count": 1})
    assert [e.event for e in events] == ["item", "done"]
    assert json.loads(server.requests[0].body) == {"count": 1}
    assert server.requests[0].headers["content-type"] == "application/json"


@FLAVORS
async def test_frames_split_across_tcp_reads(flavor: str) -> None:
    """Pauses between writes force separate reads: mid-field, between CR and LF, mid-UTF-8."""
    raw = 'event: item\r\ndata: {"label": "w\u00f6lf"}\r\n\r\n'.encode()
    cut = raw.index(b"\xc3") + 1
    pieces: list[bytes | float] = [
        raw[:7],
        0.02,
        raw[7:12],
        0.02,
        raw[12:cut],
        0.02,
        raw[cut:-3],
        0.02,
        raw[-3:],
    ]
    with RawServer(lambda _: [head(), *pieces, item_frame(2)]).in_thread() as server:
        events = await Driver(flavor, server.url).events("POST", "/sse")
    assert events == [SseEvent("item", {"label": "w\u00f6lf"}), SseEvent("item", {"n": 2})]


@FLAVORS
async def test_chat_over_the_network_stops_at_done_without_waiting_for_close(flavor: str) -> None:
    """The server holds the connection after [DONE]; the client returns at once anyway."""
    frames: list[bytes | float] = [
        b'data: {"content": "Hel"}\n\n',
        0.01,
        b'data: {"content": "lo"}\n\n',
    ]
    frames += [b": keep-alive\n\n", b"data: [DONE]\n\n"]
    with RawServer(lambda _: [head(), *frames], hold=True).in_thread() as server:
        driver = Driver(flavor, server.url, {"timeout": 2.0})
        started = time.monotonic()
        text = await driver.chat_text("POST", "/chat", json={"message": "hi"})
        assert text == "Hello"
        assert time.monotonic() - started < 1.5
        assert await await_until(lambda: server.open_connections == 0)


@FLAVORS
async def test_server_dropping_mid_stream_raises_after_the_events_it_sent(flavor: str) -> None:
    """A chunked body cut before its last chunk is a lost connection, not a normal end."""
    steps = [head(chunked=True), chunk(item_frame(1)), chunk(b'event: item\ndata: {"n"')]
    with RawServer(lambda _: steps).in_thread() as server:
        got: list[Any] = []
        with pytest.raises(MotiaConnectionError, match="lost mid-response") as info:
            await Driver(flavor, server.url).events("POST", "/sse", sink=got)
    assert got == [SseEvent("item", {"n": 1})]
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


@FLAVORS
async def test_chat_dropped_mid_stream_raises(flavor: str) -> None:
    """A close-delimited chat stream cut before [DONE] raises instead of returning half the text."""
    steps = [head(), b'data: {"content": "Hel"}\n\n', b'data: {"cont']
    with (
        RawServer(lambda _: steps).in_thread() as server,
        pytest.raises(MotiaConnectionError, match="DONE"),
    ):
        await Driver(flavor, server.url).chat_text("POST", "/chat")


@FLAVORS
async def test_wrong_content_type_raises_before_any_event(flavor: str) -> None:
    body = item_frame(1)
    steps = [head("application/json", length=len(body)), body]
    with RawServer(lambda _: steps).in_thread() as server:
        got: list[Any] = []
        with pytest.raises(UnexpectedContentType) as info:
            await Driver(flavor, server.url).events("POST", "/sse?x=1", sink=got)
    assert got == []
    error = info.value
    assert (error.status, error.content_type) == (200, "application/json")
    assert error.url == server.url + "/sse"
    assert "text/event-stream" in str(error)


@FLAVORS
async def test_error_status_on_a_stream_carries_the_body(flavor: str) -> None:
    body = b'{"error": "count must be a number"}'
    steps = [head("application/json", status="400 Bad Request", length=len(body)), body]
    with RawServer(lambda _: steps).in_thread() as server, pytest.raises(HttpError) as info:
        await Driver(flavor, server.url).events("POST", "/sse", params={"count": "x"})
    assert not isinstance(info.value, UnexpectedContentType)
    assert (info.value.status, info.value.body) == (400, {"error": "count must be a number"})


@FLAVORS
async def test_early_break_closes_the_connection(flavor: str) -> None:
    """A break after two of up to 400 frames leaves no open connection on the server."""
    steps: list[bytes | float] = [head()]
    for n in range(400):
        steps += [item_frame(n), 0.005]
    with RawServer(lambda _: steps, hold=True).in_thread() as server:
        if flavor == "sync":
            with MotiaHttp(server.url) as http:
                for event in http.stream_events("POST", "/sse"):
                    if event.data["n"] == 1:
                        break
                # The client is still open: only the stream's connection must be gone.
                assert await await_until(lambda: server.open_connections == 0)
        else:
            async with AsyncMotiaHttp(server.url) as ahttp:
                async for event in ahttp.stream_events("POST", "/sse"):
                    if event.data["n"] == 1:
                        break
                assert await await_until(lambda: server.open_connections == 0)
        assert server.total_connections == 1
        assert server.steps_played < len(steps)


def test_a_held_sync_stream_stays_open_until_closed() -> None:
    """The counterpart of the break test: a generator still referenced keeps its
    connection (so the count above is not vacuous) until ``close()`` releases it."""
    steps: list[bytes | float] = [head()]
    for n in range(400):
        steps += [item_frame(n), 0.005]
    with RawServer(lambda _: steps, hold=True).in_thread() as server, MotiaHttp(server.url) as http:
        events = http.stream_events("POST", "/sse")
        assert [next(events).data["n"], next(events).data["n"]] == [0, 1]
        time.sleep(0.05)
        assert server.open_connections == 1
        events.close()
        assert wait_until(lambda: server.open_connections == 0)


async def test_aclosing_closes_the_async_stream_deterministically() -> None:
    """With contextlib.aclosing the connection is closed when the block exits."""
    steps: list[bytes | float] = [head()]
    for n in range(400):
        steps += [item_frame(n), 0.005]
    async with RawServer(lambda _: steps, hold=True) as server:
        async with AsyncMotiaHttp(server.url) as http:
            async with contextlib.aclosing(http.stream_events("POST", "/sse")) as events:
                async for _ in events:
                    break
            assert await await_until(lambda: server.open_connections == 0)
        assert server.steps_played < len(steps)


@FLAVORS
async def test_a_quiet_stream_raises_motia_timeout(flavor: str) -> None:
    """One event, then silence longer than the idle timeout: MotiaTimeout, not a hang."""
    with RawServer(lambda _: [head(), item_frame(1), 5.0], hold=True).in_thread() as server:
        got: list[Any] = []
        started = time.monotonic()
        with pytest.raises(MotiaTimeout, match=r"sent nothing for 0\.2 s") as info:
            await Driver(flavor, server.url, {"timeout": 0.2}).events("POST", "/sse", sink=got)
        elapsed = time.monotonic() - started
    assert got == [SseEvent("item", {"n": 1})]
    assert 0.15 < elapsed < 2.0
    assert isinstance(info.value, TimeoutError)


@FLAVORS
async def test_a_server_that_never_answers_raises_motia_timeout(flavor: str) -> None:
    server = RawServer(lambda _: [5.0], hold=True)
    with server.in_thread(), pytest.raises(MotiaTimeout):
        await Driver(flavor, server.url, {"timeout": 0.2}).call("POST", "/todo", json={})


@FLAVORS
async def test_a_long_stream_that_keeps_sending_is_never_cut(flavor: str) -> None:
    """20 frames over about 1 s with a 0.25 s idle timeout: no total timeout applies."""
    steps: list[bytes | float] = [head()]
    for n in range(20):
        steps += [item_frame(n), 0.05]
    with RawServer(lambda _: steps).in_thread() as server:
        started = time.monotonic()
        events = await Driver(flavor, server.url, {"timeout": 0.25}).events("POST", "/sse")
        elapsed = time.monotonic() - started
    assert [e.data["n"] for e in events] == list(range(20))
    assert elapsed > 0.75  # longer than three idle timeouts


@FLAVORS
async def test_connection_refused_is_a_connection_error(flavor: str) -> None:
    driver = Driver(flavor, f"http://127.0.0.1:{free_port()}", {"connect_timeout": 2.0})
    with pytest.raises(MotiaConnectionError, match="could not connect"):
        await driver.events("POST", "/sse")


def test_the_raw_server_sees_one_request_per_stream() -> None:
    """Sanity check of the wiring the tests above rely on (sync client, no pool reuse)."""

    def respond(request: Recorded) -> list[bytes | float]:
        total = int(request.target.rpartition("=")[2])
        return [head(), *[item_frame(n) for n in range(total)]]

    with RawServer(respond).in_thread() as server, MotiaHttp(server.url) as http:
        assert len(list(http.stream_events("GET", "/sse?count=3"))) == 3
        assert len(list(http.stream_events("GET", "/sse?count=5"))) == 5
    assert [r.target for r in server.requests] == ["/sse?count=3", "/sse?count=5"]
