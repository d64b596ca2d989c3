"""The ``motia-stub`` command: argument checks, a real run in a subprocess, clean SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

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
    "argv",
    [
        ["--dialect", "v2"],
        ["--port", "70000"],
        ["--port", "x"],
        ["--token", ""],
        ["--stream-def", ""],
        ["--stream-def", "s" * 257],
        ["--max-connections", "0"],
        ["--max-group-items", "x"],
        ["--head-timeout", "0"],
        ["--body-timeout", "-1"],
    ],
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


def test_help_shows_every_default_and_what_the_token_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    options = sorted(set(re.findall(r"^  (--[a-z-]+)", text, flags=re.MULTILINE)))
    assert len(options) >= 16
    for option in options:
        if option in ("--help", "--version"):
            continue
        block = re.search(rf"^  {option}\b(.*?)(?=^  -|\Z)", text, flags=re.MULTILINE | re.DOTALL)
        assert block is not None, option
        assert "(default" in block.group(1), f"{option} does not show its default"
    flat = " ".join(text.split())
    assert "Without --token every client is anonymous" in flat
    assert "private-messages stream refuses every join" in flat
    assert "the HTTP steps (401)" in flat
    assert "todo, inbox, private-messages, openai, stats" in flat


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(["--version"])
    assert info.value.code == 0
    assert re.fullmatch(r"motia-stub \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_stream_defs_repeat() -> None:
    assert parse_args([]).stream_def == []
    args = parse_args(["--stream-def", "metrics", "--stream-def", "audit"])
    assert args.stream_def == ["metrics", "audit"]


async def test_declared_streams_and_echo_events_from_the_command_line() -> None:
    proc = await _spawn("--port", "0", "--stream-def", "metrics", "--echo-state-events")
    lines: list[str] = []
    try:
        port = await _read_until_started(proc, lines)
        client = await open_client(f"ws://127.0.0.1:{port}/")
        await client.join_and_sync(join("metrics", "cpu"))
        await client.send(join("metricz", "cpu"))
        refused = await client.recv_event()
        assert refused["event"]["data"]["message"] == "Stream metricz not found"
        assert (await client.recv_event())["event"]["data"]["message"] == "Access denied"
        await client.join_and_sync(join("todo", "inbox"))
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            todo = await http.post(f"http://127.0.0.1:{port}/todo", json={"description": "x"})
        assert (await client.recv_event()) == {"type": "create", "data": todo.json()}
        assert (await client.recv_event())["event"] == {"type": "create", "data": todo.json()}
        await client.ws.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 15)
    log_text = "".join(lines) + err.decode()
    assert "streams: todo, inbox, private-messages, openai, stats, metrics" in log_text
    assert "state echo events on" in log_text
    assert "token auth off: every client is anonymous; private-messages refuses" in log_text


def _shadow(folder: Path, names: tuple[str, ...]) -> None:
    """Packages that fail to import as if they were not installed."""
    for name in names:
        package = folder / name
        package.mkdir()
        (package / "__init__.py").write_text(
            f'raise ModuleNotFoundError("No module named {name!r}", name={name!r})\n'
        )


@pytest.mark.parametrize("missing", [("starlette",), ("uvicorn",), ("starlette", "uvicorn")])
async def test_without_the_server_extra_one_line_and_exit_2(
    tmp_path: Path, missing: tuple[str, ...]
) -> None:
    _shadow(tmp_path, missing)
    script = Path(sys.executable).with_name("motia-stub")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "server_stub"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    for argv in ([], ["--port", "0", "--demo"]):
        proc = await asyncio.create_subprocess_exec(
            *command,
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 2
        assert out == b""
        lines = err.decode().splitlines()
        assert len(lines) == 1, lines
        assert "pip install 'motia-client[server]'" in lines[0]
        assert missing[0] in lines[0]
    version = await asyncio.create_subprocess_exec(
        *command, "--version", stdout=asyncio.subprocess.PIPE, env=env
    )
    out, _ = await asyncio.wait_for(version.communicate(), 30)
    assert version.returncode == 0
    assert out.startswith(b"motia-stub ")
