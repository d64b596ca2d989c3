"""The ``motia-stub`` command: argument checks, a real run in a subprocess, clean SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import httpx
import pytest

from server_stub import StubServer
from server_stub.__main__ import parse_args

from .conftest import join, open_client

TOKEN = "cli-secret-token"
STARTED = re.compile(r"streams at ws://127\.0\.0\.1:(\d+)/")


def test_defaults_match_the_documented_command_line() -> None:
    args = parse_args([])
    assert (args.host, args.port, args.dialect, args.token, args.demo) == (
        "127.0.0.1",
        3000,
        "motia",
        None,
        False,
    )
    args = parse_args(["--port", "0", "--dialect", "iii", "--token", "t", "--demo"])
    assert (args.port, args.dialect, args.token, args.demo) == (0, "iii", "t", True)


@pytest.mark.parametrize(
    "argv", [["--dialect", "v2"], ["--port", "70000"], ["--port", "x"], ["--token", ""]]
)
def test_bad_arguments_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert "usage: motia-stub" in capsys.readouterr().err


async def _spawn(*argv: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server_stub",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _read_until_started(proc: asyncio.subprocess.Process, lines: list[str]) -> int:
    assert proc.stderr is not None
    for _ in range(200):  # bounded in lines; each read bounded in time
        raw = await asyncio.wait_for(proc.stderr.readline(), 10)
        if not raw:
            break
        lines.append(raw.decode())
        match = STARTED.search(lines[-1])
        if match:
            return int(match.group(1))
    raise AssertionError("motia-stub did not start:\n" + "".join(lines))


async def test_the_command_serves_until_sigterm_and_never_logs_the_token() -> None:
    proc = await _spawn("--port", "0", "--dialect", "iii", "--token", TOKEN, "--log-level", "debug")
    lines: list[str] = []
    try:
        port = await _read_until_started(proc, lines)
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            info = (await http.get(f"http://127.0.0.1:{port}/")).json()
            assert info["dialect"] == "iii"
            assert info["auth"] is True
            todo_url = f"http://127.0.0.1:{port}/todo"
            assert (await http.post(todo_url, json={})).status_code == 401
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            assert (await http.post(todo_url, json={}, headers=bearer)).status_code == 400
        client = await open_client(f"ws://127.0.0.1:{port}/?authToken={TOKEN}")
        sync = await client.join_and_sync(join("todo", "inbox"))
        assert sync["type"] == "stream"
        await client.ws.close()
        header_client = await open_client(
            f"ws://127.0.0.1:{port}/", subprotocols=["Authorization", TOKEN]
        )
        await header_client.ws.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0
    log_text = "".join(lines) + err.decode()
    assert "token auth on: the stream socket and the HTTP steps require the token" in log_text
    assert "WebSocket" in log_text
    assert TOKEN not in log_text
    assert out == b""  # logs go to stderr only


async def test_a_taken_port_exits_with_1_and_a_clear_message() -> None:
    async with StubServer(port=0) as stub:
        proc = await _spawn("--port", str(stub.port))
        _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{stub.port}" in err.decode()
