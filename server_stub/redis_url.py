"""Redis URLs in logs and errors: the password never shows (no ``redis`` import needed)."""

from __future__ import annotations

import re

_PASSWORD = re.compile(r"(://[^:@/]*:)[^@/]*@")
_PASSWORD_QUERY = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its password (``redis://user:secret@``, ``?password=``) shown as ``***``."""
    return _PASSWORD_QUERY.sub(r"\1***", _PASSWORD.sub(r"\1***@", url))
