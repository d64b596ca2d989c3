"""The stream clients' options: one definition for both clients, checked once.

:class:`ClientOptions` names every keyword option of ``AsyncStreamClient`` and
``StreamClient`` (both take ``**options: Unpack[ClientOptions]``, so IDEs and
mypy see the names and types); :data:`DEFAULTS` holds their defaults, and
:class:`Config` is the validated result. A bad value raises ``ValueError`` (a
misspelt name ``TypeError``) when the client is built, not when it connects.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from motia_client._auth import AuthMode, Credentials, TokenSource, check_token, redact_url
from motia_client._lifecycle import ReconnectPolicy
from motia_client._proxy import ProxyOption, check_proxy
from motia_client._transport import (
    DEFAULT_MAX_SIZE,
    ConnectRequest,
    TransportChoice,
    TransportFactory,
)
from motia_client._websockets_transport import websockets_transport

__all__ = ["DEFAULTS", "ClientOptions", "Config", "pick_transport"]


class ClientOptions(TypedDict, total=False):
    """The keyword options of both stream clients (README: "The client")."""

    token: TokenSource
    auth: AuthMode
    headers: dict[str, str] | None
    ssl: ssl_module.SSLContext | bool | None
    reconnect: ReconnectPolicy | bool
    ping_interval: float | None
    ping_timeout: float | None
    open_timeout: float
    max_size: int
    transport: TransportChoice
    proxy: ProxyOption
    verify_interval: float | None


DEFAULTS: Final[ClientOptions] = {
    "token": None,
    "auth": "subprotocol",
    "headers": None,
    "ssl": None,
    "reconnect": True,
    "ping_interval": 20.0,
    "ping_timeout": 20.0,
    "open_timeout": 10.0,
    "max_size": DEFAULT_MAX_SIZE,
    "transport": "auto",
    "proxy": True,
    "verify_interval": None,
}


def pick_transport(choice: TransportChoice) -> TransportFactory:
    """Resolve ``transport=``: ``"auto"`` and ``"websockets"`` are the websockets transport."""
    if callable(choice):
        return choice
    if choice in ("auto", "websockets"):
        return websockets_transport
    raise ValueError("transport must be 'auto', 'websockets' or a transport factory")


@dataclass(frozen=True, repr=False)
class Config:
    """A stream client's validated options (never shown: the token is in it)."""

    urls: tuple[str, ...]
    token: TokenSource
    auth: AuthMode
    headers: dict[str, str]
    ssl: ssl_module.SSLContext | bool | None
    policy: ReconnectPolicy | None
    ping_interval: float | None
    ping_timeout: float | None
    open_timeout: float
    max_size: int
    factory: TransportFactory
    proxy: ProxyOption
    verify_interval: float | None

    @classmethod
    def build(cls, url: str | Sequence[str], options: ClientOptions) -> Config:
        """Check ``url`` (one, or several to fail over between) and ``options``."""
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise TypeError(f"unknown stream client option(s): {', '.join(unknown)}")
        given: dict[str, Any] = {**DEFAULTS, **options}
        urls = (url,) if isinstance(url, str) else tuple(url)
        if not urls:
            raise ValueError("give the stream URL, or a list of them to fail over between")
        for one in urls:
            if not isinstance(one, str) or not one.startswith(("ws://", "wss://")):
                shown = redact_url(one) if isinstance(one, str) else repr(type(one))
                raise ValueError(f"a stream URL must start with ws:// or wss://: {shown}")
        auth = given["auth"]
        if auth not in ("subprotocol", "header", "query"):
            raise ValueError("auth must be 'subprotocol', 'header' or 'query'")
        token = given["token"]
        if isinstance(token, str):
            check_token(token, auth)
        elif token is not None and not callable(token):
            raise ValueError("token must be a string, or a sync or async callable returning one")
        reconnect = given["reconnect"]
        policy = ReconnectPolicy() if reconnect is True else (reconnect or None)
        if policy is not None and not isinstance(policy, ReconnectPolicy):
            raise ValueError("reconnect must be True, False or a ReconnectPolicy")
        for name in ("ping_interval", "ping_timeout", "verify_interval"):
            value = given[name]
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, or None")
        if not given["open_timeout"] > 0:
            raise ValueError("open_timeout must be a number of seconds > 0")
        if not isinstance(given["max_size"], int) or given["max_size"] <= 0:
            raise ValueError("max_size must be a positive number of bytes")
        check_proxy(given["proxy"])
        return cls(
            urls=urls,
            token=token,
            auth=auth,
            headers=dict(given["headers"] or {}),
            ssl=given["ssl"],
            policy=policy,
            ping_interval=given["ping_interval"],
            ping_timeout=given["ping_timeout"],
            open_timeout=given["open_timeout"],
            max_size=given["max_size"],
            factory=pick_transport(given["transport"]),
            proxy=given["proxy"],
            verify_interval=given["verify_interval"],
        )

    def request(self, url: str, token: str | None) -> ConnectRequest:
        """What one connection attempt to ``url`` presents."""
        return ConnectRequest(
            credentials=Credentials.build(url, token, self.auth, self.headers),
            ssl=self.ssl,
            max_size=self.max_size,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            open_timeout=self.open_timeout,
            proxy=self.proxy,
        )
