"""Token extraction (three ways) and the authentication policies, without sockets."""

from __future__ import annotations

import pytest

from server_stub.auth import (
    DEFAULT_USER_ID,
    Authenticator,
    AuthOutcome,
    chosen_subprotocol,
    token_from_request,
)
from server_stub.logs import RedactTokens, redact


def test_bearer_header() -> None:
    assert token_from_request({"authorization": "Bearer abc"}, [], b"") == "abc"
    assert token_from_request({"authorization": "bearer  abc "}, [], b"") == "abc"
    assert token_from_request({"authorization": "Basic abc"}, [], b"") is None


def test_subprotocol_pair() -> None:
    assert token_from_request({}, ["Authorization", "tok"], b"") == "tok"
    assert token_from_request({}, ["chat", "Authorization", "tok"], b"") == "tok"
    assert token_from_request({}, ["Authorization"], b"") is None


def test_query() -> None:
    assert token_from_request({}, [], b"authToken=q%2Bw") == "q+w"
    assert token_from_request({}, [], b"x=1&authToken=") is None
    assert token_from_request({}, [], b"") is None


def test_precedence_is_header_then_subprotocol_then_query() -> None:
    headers = {"authorization": "Bearer h"}
    assert token_from_request(headers, ["Authorization", "s"], b"authToken=q") == "h"
    assert token_from_request({}, ["Authorization", "s"], b"authToken=q") == "s"


def test_the_authorization_subprotocol_is_selected_when_offered() -> None:
    assert chosen_subprotocol(["Authorization", "t"]) == "Authorization"
    assert chosen_subprotocol(["chat"]) is None
    assert chosen_subprotocol([]) is None


async def test_no_policy_means_everyone_is_anonymous() -> None:
    auth = Authenticator()
    assert not auth.enabled
    for token in (None, "anything"):
        outcome = await auth.authenticate(token)
        assert outcome.accepted
        assert outcome.context is None


async def test_shared_token_policy() -> None:
    auth = Authenticator(token="s3cret")
    assert (await auth.authenticate("s3cret")).context == {"userId": DEFAULT_USER_ID}
    wrong = await auth.authenticate("wrong")
    assert not wrong.accepted
    assert wrong.error("X") == "invalid token"
    missing = await auth.authenticate(None)  # a token is required: no anonymous clients
    assert not missing.accepted
    assert missing.error("X") == "a token is required: send X"
    assert auth.requires_token
    assert "s3cret" not in repr(auth)


async def test_auth_function_sync_async_and_failing() -> None:
    def sync_auth(token: str) -> dict[str, object] | None:
        return {"userId": token} if token.startswith("u-") else None

    async def async_auth(token: str) -> dict[str, object] | None:
        return sync_auth(token)

    for func in (sync_auth, async_auth):
        auth = Authenticator(auth=func)
        assert not auth.requires_token
        assert (await auth.authenticate("u-ann")).context == {"userId": "u-ann"}
        assert not (await auth.authenticate("nope")).accepted
        assert (await auth.authenticate(None)) == AuthOutcome(True, None)  # anonymous

    def broken(token: str) -> dict[str, object] | None:
        raise ValueError(token)

    def not_a_dict(token: str) -> dict[str, object] | None:
        return "yes"  # type: ignore[return-value]

    assert not (await Authenticator(auth=broken).authenticate("t")).accepted
    assert not (await Authenticator(auth=not_a_dict).authenticate("t")).accepted


def test_policy_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="not both"):
        Authenticator(token="a", auth=lambda t: None)
    with pytest.raises(ValueError, match="empty"):
        Authenticator(token="")


def test_redaction_of_query_subprotocol_and_bearer_tokens() -> None:
    line = '"WebSocket /?authToken=abc123&x=1" 401 Bearer zzz; protocol: Authorization, yyy'
    cleaned = redact(line)
    assert "abc123" not in cleaned
    assert "zzz" not in cleaned
    assert "yyy" not in cleaned
    assert "x=1" in cleaned


def test_redaction_filter_rewrites_formatted_records() -> None:
    import logging

    record = logging.LogRecord(
        "uvicorn.error", 20, "f", 1, '"WebSocket %s"', ("/?authToken=k",), None
    )
    assert RedactTokens().filter(record)
    assert "authToken=***" in record.getMessage()
    assert "=k" not in record.getMessage()
