"""The ``motia-tui`` command line: options, their defaults and checks, and ``main``.

Nothing here imports Textual: ``--help``, ``--version`` and the argument checks
work without the ``tui`` extra, and a missing extra is one line, not a traceback.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn, cast
from urllib.parse import urlsplit

from motia_client import AsyncStreamClient

from .options import (
    DEFAULT_AI_STREAM,
    DEFAULT_FPS,
    DEFAULT_URL,
    TODO_STREAM,
    AuthMode,
    Options,
)

__all__ = ["DEMO_AI_GROUP", "MISSING_EXTRA", "main", "parse_args", "version"]

TOKEN_ENV = "MOTIA_TOKEN"  # noqa: S105 - the name of a variable, not a secret
DEMO_AI_GROUP = "demo"  # where the stub's demo writes its AI answers
MISSING_EXTRA = "motia-tui needs the tui extra: pip install 'motia-client[tui]'"
_TUI_MODULES = frozenset({"textual", "rich"})  # what the tui extra brings


def version() -> str:
    """The installed motia-client version (``unknown`` when run from an uninstalled tree)."""
    try:
        return metadata.version("motia-client")
    except metadata.PackageNotFoundError:
        return "unknown"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motia-tui",
        description="A live terminal view of a Motia stream group (todos by default) "
        "and of an AI answer written token by token.",
        epilog=f"keys on the {TODO_STREAM!r} stream: a add a todo, c complete the selected "
        "todo, d delete it (each in the group shown, sent as ?groupId=); q quits. "
        f"The token may also come from ${TOKEN_ENV}.",
    )
    parser.add_argument("--version", action="version", version=f"motia-tui {version()}")
    parser.add_argument("--url", help=f"the stream WebSocket URL (default: {DEFAULT_URL})")
    parser.add_argument(
        "--http-url", metavar="URL", help="the HTTP steps' base URL (default: from --url)"
    )
    parser.add_argument("--token", help=f"the auth token (default: ${TOKEN_ENV})")
    parser.add_argument(
        "--auth",
        choices=("subprotocol", "header", "query"),
        default="subprotocol",
        help="how the token travels on the socket (default: subprotocol)",
    )
    parser.add_argument(
        "--stream",
        metavar="NAME",
        default=TODO_STREAM,
        help=f"the stream name (default: {TODO_STREAM})",
    )
    parser.add_argument("--group", default="inbox", help="the group id (default: inbox)")
    parser.add_argument("--item", metavar="ID", help="show only this item of the group")
    parser.add_argument("--sort", metavar="KEY", help="order the rows by this item field")
    parser.add_argument(
        "--ai-group",
        "--openai-group",
        metavar="GROUP",
        help="the AI panel follows the newest item of this group of --ai-stream "
        f"(default: {DEMO_AI_GROUP!r} with --demo, else no panel)",
    )
    parser.add_argument(
        "--ai-item",
        metavar="ID",
        help="the AI panel follows this one item of --ai-group instead of the newest",
    )
    parser.add_argument(
        "--ai-stream",
        metavar="NAME",
        default=DEFAULT_AI_STREAM,
        help=f"the stream of the AI panel (default: {DEFAULT_AI_STREAM})",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the reference server with live demo data in-process and connect to it",
    )
    parser.add_argument(
        "--fps",
        metavar="N",
        type=int,
        default=DEFAULT_FPS,
        help=f"screen updates per second (default: {DEFAULT_FPS})",
    )
    return parser


def _check_token(parser: argparse.ArgumentParser, url: str, token: str | None, auth: str) -> None:
    """The client's own checks (URL, token characters), reworded for a command line."""
    try:
        AsyncStreamClient(url, token=token, auth=auth)  # type: ignore[arg-type]
    except ValueError as exc:
        _token_error(parser, exc, url, token, auth)


def _token_error(
    parser: argparse.ArgumentParser, exc: ValueError, url: str, token: str | None, auth: str
) -> NoReturn:
    if auth == "subprotocol" and token:
        try:  # the client's rule decides; this only finds which way would work
            AsyncStreamClient(url, token=token, auth="header")
        except ValueError:
            pass
        else:
            parser.error(
                "--token holds characters that cannot travel as a WebSocket subprotocol "
                "(--auth subprotocol, the default): use --auth header "
                "(Authorization: Bearer) or --auth query (?authToken=)"
            )
    parser.error(f"--token: {exc}")


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Parse and check the command line (exits with status 2 and a message on bad input)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.demo and (args.url or args.http_url):
        parser.error("--demo starts its own server: do not combine it with --url or --http-url")
    url = args.url or DEFAULT_URL
    if urlsplit(url).scheme not in ("ws", "wss") or not urlsplit(url).netloc:
        parser.error(f"--url must be a ws:// or wss:// URL, not {urlsplit(url).scheme or url!r}")
    if args.http_url and (
        urlsplit(args.http_url).scheme not in ("http", "https")
        or not urlsplit(args.http_url).netloc
    ):
        parser.error("--http-url must be an http:// or https:// URL")
    if not 1 <= args.fps <= 120:
        parser.error("--fps must be between 1 and 120")
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    _check_token(parser, url, token, args.auth)
    ai_group = args.ai_group
    if ai_group is None and args.demo:
        ai_group = DEMO_AI_GROUP
    if args.ai_item is not None and ai_group is None:
        parser.error("--ai-item names an item of --ai-group: give --ai-group too")
    return Options(
        url=url,
        http_url=args.http_url,
        token=token,
        auth=cast(AuthMode, args.auth),
        stream=args.stream,
        group=args.group,
        item=args.item,
        sort=args.sort,
        ai_stream=args.ai_stream,
        ai_group=ai_group,
        ai_item=args.ai_item,
        demo=args.demo,
        fps=args.fps,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; return the process exit status (2: bad arguments or no tui extra)."""
    options = parse_args(argv)
    try:  # Textual is imported only once the arguments are fine
        from .app import MotiaTui
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in _TUI_MODULES:
            raise
        print(MISSING_EXTRA, file=sys.stderr)
        return 2

    # Nothing may write to the terminal under the app: library and server logs go to its log.
    logging.getLogger().addHandler(logging.NullHandler())
    # Everything imported so far lives until exit: keep it out of the collector's full
    # passes, which otherwise pause the screen for 100-200 ms under a burst of updates.
    gc.collect()
    gc.freeze()
    app = MotiaTui(options)
    try:
        result = app.run()
    except KeyboardInterrupt:
        return 130
    return result or 0
