"""Which store a server uses, from a URL: ``memory`` (the default) or ``redis://...``.

    store_from_url("memory")                                  # MemoryStore
    store_from_url("redis://127.0.0.1:6379/0")                # RedisStore (the redis extra)
    store_from_url("rediss://:secret@redis.example:6380/1")   # TLS and a password work too

The Redis store needs the ``redis`` extra (``pip install 'motia-client[redis]'``);
without it the error says so. URLs are shown with their password replaced by ``***``.
"""

from __future__ import annotations

from collections.abc import Callable

from .frames import Item
from .memory_store import MemoryStore
from .store import StoreLimits, StreamStore

MEMORY = "memory"
REDIS_SCHEMES = ("redis", "rediss", "unix")
MISSING_REDIS = (
    "the Redis store needs the redis extra (the redis package is not installed): "
    "pip install 'motia-client[redis]'"
)


class StoreConfigError(ValueError):
    """A store URL that names no store we have, or one whose extra is not installed."""


def scheme_of(url: str) -> str:
    """``memory``, or the URL's scheme in lower case (``""`` when it has none)."""
    if url in (MEMORY, MEMORY + "://"):
        return MEMORY
    return url.split("://", 1)[0].lower() if "://" in url else ""


def check_store_url(url: str) -> str:
    """``url`` if it names a store (raises StoreConfigError saying what is accepted)."""
    if scheme_of(url) not in (MEMORY, *REDIS_SCHEMES):
        from .redis_url import redact_url

        raise StoreConfigError(
            f"unknown store {redact_url(url)!r}: use 'memory' or a Redis URL such as "
            "redis://127.0.0.1:6379/0"
        )
    return url


def store_from_url(
    url: str,
    *,
    validator: Callable[[str, Item], None] | None = None,
    limits: StoreLimits | None = None,
    redis_prefix: str | None = None,
) -> StreamStore:
    """A new, unopened store for ``url`` (StoreConfigError when it cannot be made)."""
    if scheme_of(check_store_url(url)) == MEMORY:
        return MemoryStore(validator=validator, limits=limits)
    try:
        from .redis_store import DEFAULT_PREFIX, RedisStore
    except ImportError:
        raise StoreConfigError(MISSING_REDIS) from None
    return RedisStore(
        url,
        prefix=DEFAULT_PREFIX if redis_prefix is None else redis_prefix,
        validator=validator,
        limits=limits,
    )
