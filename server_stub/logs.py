"""Logging helpers: keep tokens out of every log line, including uvicorn's.

uvicorn logs each WebSocket handshake with its path and query string, which is
where a ``?authToken=`` travels, and at debug level every request header, which
is where the subprotocol pair and ``Authorization: Bearer`` travel.
:class:`RedactTokens` rewrites such lines. :class:`RateLimitedLog` folds a flood of
identical warnings into one line per interval.
"""

from __future__ import annotations

import logging
import re
import time

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


class RateLimitedLog:
    """Logs a recurring condition at most once per ``interval`` seconds per key.

    A flood (thousands of refused connections, accept errors when file descriptors
    run out) becomes one line per interval that says how many were folded into it,
    instead of megabytes of identical lines and tracebacks.
    """

    def __init__(self, logger: logging.Logger, interval: float = 5.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._folded: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``key`` was logged within the interval; True if logged."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._folded[key] = self._folded.get(key, 0) + 1
            return False
        folded = self._folded.pop(key, 0)
        self._last[key] = now
        if folded:
            message += " (%d more like it in the last %.0f s)"
            args = (*args, folded, now - last if last is not None else 0.0)
        self._logger.log(level, message, *args)
        return True
