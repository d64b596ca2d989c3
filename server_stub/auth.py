"""Authentication: find the token (the three ways of PROTOCOL.md section 2) and decide.

A token may come as the subprotocol pair ``["Authorization", token]`` (stream socket
only), as an ``Authorization: Bearer <token>`` header, or as ``?authToken=<token>``.
Nothing else counts: ``Basic`` credentials, ``?AuthToken=``, ``X-Authorization`` are
not read. Three policies:

- none (the default): every client is anonymous; joins that need a user (the
  ``private-messages`` stream) are refused.
- one shared token (``--token``, ``token=``): the token is **required** from every
  stream socket (HTTP 401 before the upgrade) and every HTTP step (401); a client
  presenting it is the user ``stub-user``.
- an auth function (``auth=``): a presented token is mapped to an auth context (or
  refused with 401); a client without a token is anonymous.

Tokens are never logged and never echoed in an answer.
"""

from __future__ import annotations

import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .streams import AuthContext

log = logging.getLogger("server_stub.auth")

AUTH_SUBPROTOCOL = "Authorization"
DEFAULT_USER_ID = "stub-user"
HTTP_WAYS = "'Authorization: Bearer <token>' or '?authToken=<token>'"
SOCKET_WAYS = f"the subprotocol pair ['Authorization', <token>], {HTTP_WAYS}"

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
    """The decision for one connection attempt or request (``problem`` says why it failed)."""

    accepted: bool
    context: AuthContext | None = None
    problem: str | None = None

    def error(self, ways: str) -> str:
        """The client-facing error message of a refusal (never contains a token)."""
        if self.problem == "missing":
            return f"a token is required: send {ways}"
        return "invalid token"


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

    @property
    def requires_token(self) -> bool:
        """Whether a client without a token is refused (the shared-token policy)."""
        return self._token is not None

    def __repr__(self) -> str:
        mode = "token" if self._token is not None else "function" if self._auth else "off"
        return f"Authenticator({mode})"

    async def authenticate(self, token: str | None) -> AuthOutcome:
        """Decide for a client presenting ``token`` (None: it presented none)."""
        if not self.enabled:
            return AuthOutcome(accepted=True, context=None)
        if token is None:
            if self.requires_token:
                return AuthOutcome(accepted=False, problem="missing")
            return AuthOutcome(accepted=True, context=None)
        if self._token is not None:
            ok = hmac.compare_digest(token.encode(), self._token.encode())
            if not ok:
                return AuthOutcome(accepted=False, problem="invalid")
            return AuthOutcome(True, {"userId": DEFAULT_USER_ID})
        assert self._auth is not None
        try:
            result: object = self._auth(token)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            log.warning("auth function raised %s; refusing the connection", type(exc).__name__)
            return AuthOutcome(accepted=False, problem="invalid")
        if result is None:
            return AuthOutcome(accepted=False, problem="invalid")
        if not isinstance(result, dict):
            log.warning("auth function returned %s, not a dict; refusing", type(result).__name__)
            return AuthOutcome(accepted=False, problem="invalid")
        return AuthOutcome(accepted=True, context=cast(AuthContext, result))


class RequireToken:
    """ASGI middleware: with the shared-token policy, every HTTP step needs the token (401).

    ``GET /`` (the server description, a readiness probe) stays open; stream sockets
    are checked by the socket endpoint itself, which answers 401 before upgrading.
    """

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self._app = app
        self._auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 401 with a JSON error."""
        if (
            scope["type"] != "http"
            or not self._auth.requires_token
            or (scope["path"] == "/" and scope["method"] in ("GET", "HEAD"))
        ):
            await self._app(scope, receive, send)
            return
        token = token_from_request(Headers(scope=scope), (), scope.get("query_string", b""))
        outcome = await self._auth.authenticate(token)
        if outcome.accepted:
            await self._app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": outcome.error(HTTP_WAYS), "status": 401},
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="motia-stub"'},
        )
        await response(scope, receive, send)
