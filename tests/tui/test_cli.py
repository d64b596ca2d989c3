"""The command line: defaults, derived URLs, the token's sources, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

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
    options = ("--url", "--http-url", "--token", "--item", "--sort", "--ai-group", "--ai-item")
    options += ("--ai-stream", "--demo", "--version")
    for option in options:
        assert option in result.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"motia-tui {metadata.version('motia-client')}"


def test_ai_options() -> None:
    options = parse_args(["--ai-group", "openai"])
    assert (options.ai_stream, options.ai_group, options.ai_item) == ("openai", "openai", None)
    assert options.ai_source == "openai/openai"
    options = parse_args(["--ai-stream", "answers", "--ai-group", "g", "--ai-item", "i-1"])
    assert options.ai_source == "answers/g/i-1"
    assert parse_args(["--openai-group", "trace-1"]).ai_group == "trace-1"  # the older name
    assert parse_args([]).ai_source is None


def test_ai_item_needs_ai_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--ai-item", "message"])
    assert exit_info.value.code == 2
    assert "--ai-item names an item of --ai-group: give --ai-group too" in capsys.readouterr().err


def test_a_token_that_cannot_be_a_subprotocol_gets_a_cli_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--token", "abc/def+ghi="])  # base64: / + = are not tchars
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "use --auth header (Authorization: Bearer) or --auth query (?authToken=)" in err
    assert "auth='" not in err  # the library's keyword, not a command line option
    assert "abc/def" not in err
    assert parse_args(["--token", "abc/def+ghi=", "--auth", "header"]).auth == "header"


def test_a_token_no_header_can_carry_is_refused_in_cli_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--token", "line\nbreak", "--auth", "header"])
    err = capsys.readouterr().err
    assert "motia-tui: error: --token: " in err
    assert "line\nbreak" not in err


BLOCK_TEXTUAL = '''
import importlib.abc, sys

class _NoTuiExtra(importlib.abc.MetaPathFinder):
    """As if motia-client were installed without its tui extra."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("textual", "rich"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoTuiExtra())
'''


def run_without_textual(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``motia-tui`` script with textual and rich unimportable."""
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TEXTUAL)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    script = Path(sys.executable).with_name("motia-tui")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=30, env=env, check=False
    )


def test_without_the_tui_extra_one_line_names_it_and_exits_2(tmp_path: Path) -> None:
    result = run_without_textual(tmp_path, "--url", "ws://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr == "motia-tui needs the tui extra: pip install 'motia-client[tui]'\n"
    assert result.stdout == ""
    # --help and --version need no extra.
    assert run_without_textual(tmp_path, "--help").returncode == 0
    version = run_without_textual(tmp_path, "--version")
    assert (version.returncode, version.stdout.split()[0]) == (0, "motia-tui")
