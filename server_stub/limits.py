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
- A socket's send queue holds ``DEFAULT_MAX_QUEUE`` frames (``max_queue=`` changes
  it); a client that lets it overflow is disconnected and resyncs on reconnect.
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
MAX_BACKGROUND_TASKS = 64
HOOK_TIMEOUT_SECONDS = 5.0
