"""The command line: defaults, derived URLs, the token's sources, refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest

from motia_client_tui.cli import DEMO_AI_GROUP, parse_args
from motia_client_tui.options import Options, derive_http_url


def test_defaults() -> None:
    options = parse_args([])
    assert options == Options()
    assert options.url == "ws://localhost:3000"
    assert options.base_http_url == "http://localhost:3000"
    assert (options.stream, options.group, options.item) == ("todo", "inbox", None)
    assert options.room == "todo/inbox"
    assert options.fps == 25


def test_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOTIA_TOKEN", raising=False)
    options = parse_args(
        [
            "--url", "wss://motia.example:3112/streams?x=1",
            "--http-url", "https://api.example",
            "--token", "tok-1",
            "--auth", "header",
            "--stream", "orders",
            "--group", "eu",
            "--item", "o-7",
            "--sort", "createdAt",
            "--ai-group", "trace-9",
            "--fps", "10",
        ]
    )  # fmt: skip
    assert options == Options(
        url="wss://motia.example:3112/streams?x=1",
        http_url="https://api.example",
        token="tok-1",
        auth="header",
        stream="orders",
        group="eu",
        item="o-7",
        sort="createdAt",
        ai_group="trace-9",
        fps=10,
    )
    assert options.room == "orders/eu/o-7"
    assert options.base_http_url == "https://api.example"


def test_http_url_is_derived_without_path_query_or_user_info() -> None:
    assert derive_http_url("ws://localhost:3000") == "http://localhost:3000"
    assert derive_http_url("wss://u:p@host:3112/path?authToken=s") == "https://host:3112"


def test_the_token_comes_from_the_environment_and_never_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOTIA_TOKEN", "from-env-secret")
    options = parse_args([])
    assert options.token == "from-env-secret"
    assert "from-env-secret" not in repr(options)
    assert parse_args(["--token", "flag-wins"]).token == "flag-wins"


def test_demo_follows_the_demo_ai_message() -> None:
    options = parse_args(["--demo"])
    assert options.demo
    assert options.ai_group == DEMO_AI_GROUP
    assert parse_args(["--demo", "--openai-group", "t1"]).ai_group == "t1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--demo", "--url", "ws://x:1"], "--demo starts its own server"),
        (["--url", "http://localhost:3000"], "--url must be a ws:// or wss:// URL"),
        (["--http-url", "ws://localhost:3000"], "--http-url must be an http:// or https:// URL"),
        (["--fps", "0"], "--fps must be between 1 and 120"),
        (["--token", "has space"], "token"),
    ],
)
def test_bad_arguments_exit_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "has space" not in err


def test_the_module_runs_and_has_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "motia_client_tui", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    options = ("--url", "--http-url", "--token", "--item", "--sort", "--openai-group", "--demo")
    for option in options:
        assert option in result.stdout
