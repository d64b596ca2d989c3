"""Connect-time authentication: find the token (three ways) and decide who the socket is.

A token may come as the subprotocol pair ``["Authorization", token]``, as an
``Authorization: Bearer <token>`` header, or as ``?authToken=<token>``. With no
authenticator configured every socket is anonymous. With one, a socket without a
token is anonymous, a valid token yields an auth context, and a wrong token is
refused with HTTP 401 before the upgrade. Tokens are never logged.
"""

from __future__ import annotations

import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qsl

from .streams import AuthContext

log = logging.getLogger("server_stub.auth")

AUTH_SUBPROTOCOL = "Authorization"
DEFAULT_USER_ID = "stub-user"

AuthFunction = Callable[[str], "AuthContext | Awaitable[AuthContext | None] | None"]
"""Maps a token to an auth context; None means the token is wrong."""


def token_from_request(
    headers: Mapping[str, str], subprotocols: Sequence[str], query_string: bytes
) -> str | None:
    """The token a client presented, by precedence header, subprotocol pair, query; or None."""
    header = headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if AUTH_SUBPROTOCOL in subprotocols:
        index = list(subprotocols).index(AUTH_SUBPROTOCOL)
        if index + 1 < len(subprotocols) and subprotocols[index + 1]:
            return subprotocols[index + 1]
    try:
        query = parse_qsl(query_string.decode("latin-1"), keep_blank_values=False)
    except ValueError:  # pragma: no cover - parse_qsl is lenient; kept for safety
        return None
    for key, value in query:
        if key == "authToken" and value:
            return value
    return None


def chosen_subprotocol(subprotocols: Sequence[str]) -> str | None:
    """``Authorization`` when the client offered it (or its handshake fails), else None."""
    return AUTH_SUBPROTOCOL if AUTH_SUBPROTOCOL in subprotocols else None


@dataclass(frozen=True)
class AuthOutcome:
    """The decision for one connection attempt."""

    accepted: bool
    context: AuthContext | None = None


class Authenticator:
    """Applies the configured policy: none, one shared token, or an auth function."""

    def __init__(self, token: str | None = None, auth: AuthFunction | None = None) -> None:
        if token is not None and auth is not None:
            raise ValueError("pass either token= or auth=, not both")
        if token is not None and not token:
            raise ValueError("token must not be empty")
        self._token = token
        self._auth = auth

    @property
    def enabled(self) -> bool:
        """Whether tokens are checked at all."""
        return self._token is not None or self._auth is not None

    def __repr__(self) -> str:
        mode = "token" if self._token is not None else "function" if self._auth else "off"
        return f"Authenticator({mode})"

    async def authenticate(self, token: str | None) -> AuthOutcome:
        """Accept anonymously without a token; otherwise check it (failures refuse)."""
        if token is None or not self.enabled:
            return AuthOutcome(accepted=True, context=None)
        if self._token is not None:
            ok = hmac.compare_digest(token.encode(), self._token.encode())
            return AuthOutcome(ok, {"userId": DEFAULT_USER_ID} if ok else None)
        assert self._auth is not None
        try:
            result: object = self._auth(token)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            log.warning("auth function raised %s; refusing the connection", type(exc).__name__)
            return AuthOutcome(accepted=False)
        if result is None:
            return AuthOutcome(accepted=False)
        if not isinstance(result, dict):
            log.warning("auth function returned %s, not a dict; refusing", type(result).__name__)
            return AuthOutcome(accepted=False)
        return AuthOutcome(accepted=True, context=cast(AuthContext, result))
