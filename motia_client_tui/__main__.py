"""Entry point of the ``motia-tui`` console script (``python -m motia_client_tui``)."""

from __future__ import annotations

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
