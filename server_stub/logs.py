"""Logging helpers: keep tokens out of every log line, including uvicorn's.

uvicorn logs each WebSocket handshake with its path and query string, which is
where a ``?authToken=`` travels, and at debug level every request header, which
is where the subprotocol pair and ``Authorization: Bearer`` travel.
:class:`RedactTokens` rewrites such lines.
"""

from __future__ import annotations

import logging
import re

_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&;\s])authToken=)[^&\s\"']*", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_SUBPROTOCOL_PAIR = re.compile(r"(Authorization\s*,\s*)[^,\s'\"]+")
REDACTED = "***"
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "server_stub")


def redact(text: str) -> str:
    """``text`` with query, subprotocol-pair and bearer tokens replaced by ``***``."""
    text = _TOKEN_IN_QUERY.sub(rf"\1{REDACTED}", text)
    text = _SUBPROTOCOL_PAIR.sub(rf"\1{REDACTED}", text)
    return _BEARER.sub(rf"\1{REDACTED}", text)


class RedactTokens(logging.Filter):
    """A filter that redacts tokens from a record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record if its message carries a token; never drops records."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_redaction() -> None:
    """Attach one RedactTokens filter to the uvicorn and server_stub loggers (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(RedactTokens())
