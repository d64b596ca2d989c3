"""The ``motia-tui`` command line: options, their defaults and checks, and ``main``."""

from __future__ import annotations

import argparse
import gc
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import urlsplit, urlunsplit

from motia_client import AsyncStreamClient

__all__ = ["Options", "derive_http_url", "main", "parse_args"]

AuthMode = Literal["subprotocol", "header", "query"]
DEFAULT_URL = "ws://localhost:3000"
DEFAULT_FPS = 25
TOKEN_ENV = "MOTIA_TOKEN"  # noqa: S105 - the name of a variable, not a secret
DEMO_OPENAI_GROUP = "demo"  # where the stub's demo writes its AI message


@dataclass(frozen=True)
class Options:
    """Everything the app needs to know from the command line."""

    url: str = DEFAULT_URL
    http_url: str | None = None  # derived from url when None
    token: str | None = None
    auth: AuthMode = "subprotocol"
    stream: str = "todo"
    group: str = "inbox"
    item: str | None = None
    sort: str | None = None
    openai_group: str | None = None
    demo: bool = False
    fps: int = DEFAULT_FPS

    def __repr__(self) -> str:  # the token is a secret: never in a repr
        token = "***" if self.token else None
        return (
            f"Options(url={self.url!r}, stream={self.stream!r}, group={self.group!r}, "
            f"item={self.item!r}, token={token}, demo={self.demo})"
        )

    @property
    def base_http_url(self) -> str:
        """The HTTP steps' base URL: ``--http-url``, or derived from ``--url``."""
        return self.http_url or derive_http_url(self.url)

    @property
    def room(self) -> str:
        """``stream/group`` or ``stream/group/item``: what the table shows."""
        path = f"{self.stream}/{self.group}"
        return f"{path}/{self.item}" if self.item is not None else path


def derive_http_url(ws_url: str) -> str:
    """``ws://host:port/path?q`` -> ``http://host:port`` (``wss`` -> ``https``)."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    netloc = parts.netloc.rpartition("@")[2]  # never carry user info over
    return urlunsplit((scheme, netloc, "", "", ""))


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motia-tui",
        description="A live terminal view of a Motia stream group (todos by default) "
        "and of an AI message written token by token.",
        epilog="keys: a add a todo, c complete the selected todo, d delete it, q quit. "
        f"The token may also come from ${TOKEN_ENV}.",
    )
    parser.add_argument("--url", help=f"the stream WebSocket URL (default {DEFAULT_URL})")
    parser.add_argument("--http-url", help="the HTTP steps' base URL (default: from --url)")
    parser.add_argument("--token", help=f"the auth token (default ${TOKEN_ENV})")
    parser.add_argument(
        "--auth",
        choices=("subprotocol", "header", "query"),
        default="subprotocol",
        help="how the token travels on the socket (default subprotocol)",
    )
    parser.add_argument("--stream", default="todo", help="the stream name (default todo)")
    parser.add_argument("--group", default="inbox", help="the group id (default inbox)")
    parser.add_argument("--item", metavar="ID", help="watch this one item of the group")
    parser.add_argument("--sort", metavar="KEY", help="order the rows by this item field")
    parser.add_argument(
        "--openai-group",
        metavar="TRACE_ID",
        help="follow the AI message openai/<TRACE_ID>/message",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the reference server with live demo data in-process and connect to it",
    )
    parser.add_argument(
        "--fps",
        type=int,
        default=DEFAULT_FPS,
        help=f"screen updates per second (default {DEFAULT_FPS})",
    )
    return parser


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
    try:  # the client's own checks (URL, token characters), before the screen takes over
        AsyncStreamClient(url, token=token, auth=args.auth)
    except ValueError as exc:
        parser.error(str(exc))
    openai_group = args.openai_group
    if openai_group is None and args.demo:
        openai_group = DEMO_OPENAI_GROUP
    return Options(
        url=url,
        http_url=args.http_url,
        token=token,
        auth=cast(AuthMode, args.auth),
        stream=args.stream,
        group=args.group,
        item=args.item,
        sort=args.sort,
        openai_group=openai_group,
        demo=args.demo,
        fps=args.fps,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; return the process exit status."""
    options = parse_args(argv)
    from .app import MotiaTui  # textual is imported only once the arguments are fine

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
