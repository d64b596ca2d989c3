"""Documented size and count limits of the reference server, in one place.

Every limit here turns an abusive or broken client into a clear error instead of
unbounded memory use:

- A WebSocket message from a client larger than ``MAX_CLIENT_FRAME_BYTES`` closes
  that socket with code 1009 ("message too big"); joins and leaves are tiny.
- An HTTP request body larger than ``MAX_BODY_BYTES`` gets 413 with a JSON error.
- Stream, group, item and subscription ids longer than ``MAX_NAME_CHARS`` make a
  join or leave invalid (ignored and logged, like any malformed frame).
- A socket may hold ``MAX_SUBSCRIPTIONS_PER_SOCKET`` subscriptions; more joins are
  refused with the dialect's refusal frame.
- A socket's send queue holds at most ``DEFAULT_MAX_QUEUE_BYTES`` bytes of encoded
  frames and ``DEFAULT_MAX_QUEUE`` frames (``max_queue_bytes=``/``max_queue=`` change
  them; one frame of any size always fits an empty queue). A client that lets it
  overflow is a slow consumer: closed with 1013 at once (dropped if it does not
  answer within 2 s); it resyncs on reconnect.
- The store holds at most ``DEFAULT_MAX_GROUP_ITEMS`` items and
  ``DEFAULT_MAX_GROUP_BYTES`` bytes of JSON per group, and ``DEFAULT_MAX_STORE_BYTES``
  bytes in all (``StoreLimits``; ``--max-group-items``, ``--max-group-bytes``,
  ``--max-store-bytes``). A write past them raises ``StoreFull``: HTTP 507.
- A request head must be complete within ``DEFAULT_HEAD_TIMEOUT`` seconds (408), a
  request body within ``DEFAULT_BODY_TIMEOUT`` (closed); at most the open-file limit
  minus ``FD_RESERVE`` connections are open (503 beyond; ``server_stub._guard``).
- At most ``MAX_BACKGROUND_TASKS`` background generations (``POST /open-ai``) run at
  once; more get 503.
"""

from __future__ import annotations

MAX_CLIENT_FRAME_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
MAX_NAME_CHARS = 256
MAX_TEXT_CHARS = 10_000
MAX_SUBSCRIPTIONS_PER_SOCKET = 1024
DEFAULT_MAX_QUEUE = 1024
DEFAULT_MAX_QUEUE_BYTES = 8 * 1024 * 1024
MAX_BACKGROUND_TASKS = 64
DEFAULT_HEAD_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
FD_RESERVE = 64
DEFAULT_MAX_GROUP_ITEMS = 10_000
DEFAULT_MAX_GROUP_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_STORE_BYTES = 256 * 1024 * 1024
HOOK_TIMEOUT_SECONDS = 5.0
