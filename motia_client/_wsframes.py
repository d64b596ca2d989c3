"""Cutting a server's byte stream into WebSocket frames: the transport's fast path.

A whole, unfragmented, unmasked TEXT or BINARY frame without RSV bits and within
``max_size`` is a message as it stands: :func:`scan` hands it to ``deliver`` and
goes on. It stops at the first frame that is not whole yet, at one the
WebSocket protocol must see itself (control frames, fragments, anything
suspect), or at one it must refuse (masked, too big): the caller (the transport)
hands those to websockets' protocol, whose parser then always starts at a frame
boundary and decides exactly as it would alone. Pure code, compiled with the
session in a release wheel: every message of every connection runs through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

__all__ = ["INCOMPLETE", "PROTOCOL", "REFUSED", "scan"]

logger = logging.getLogger("motia_client")

INCOMPLETE: Final = 0  # the frame at ``pos`` is not whole: wait for ``end - pos`` bytes
PROTOCOL: Final = 1  # the frame ``[pos:end]`` is for the protocol (control, fragment...)
REFUSED: Final = 2  # the frame at ``pos`` must be refused by the protocol (masked, too big)
_TEXT: Final = 0x81  # FIN + TEXT, no RSV bit
_BINARY: Final = 0x82  # FIN + BINARY, no RSV bit


def scan(
    buf: bytes, pos: int, max_size: int, plain: bool, deliver: Callable[[bytes], object]
) -> tuple[int, int, int]:
    """Deliver the plain messages of ``buf`` from ``pos``; return ``(pos, end, why)``.

    ``plain`` is false while a fragmented message is open: every frame is then the
    protocol's. ``why`` says what stopped the scan at ``pos`` (see the constants);
    for :data:`INCOMPLETE`, ``end`` is where the frame ends when its header is whole
    (``pos`` when it is not: a few bytes more are needed to know).
    """
    size = len(buf)
    while size - pos >= 2:
        head = buf[pos]
        length = buf[pos + 1]
        start = pos + 2
        if length >= 126:
            if length == 126:
                if size - pos < 4:
                    return pos, pos, INCOMPLETE
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    return pos, pos, INCOMPLETE
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            else:  # the mask bit: a server must never mask
                return pos, pos, REFUSED
        if length > max_size:
            return pos, pos, REFUSED
        end = start + length
        if end > size:
            return pos, end, INCOMPLETE
        if not plain or (head != _TEXT and head != _BINARY):
            return pos, end, PROTOCOL
        try:
            deliver(buf[start:end])
        except Exception:  # the receiver isolates its own errors: a last guard
            logger.exception("a received message could not be handled; skipped")
        pos = end
    return pos, pos, INCOMPLETE
