"""Entry point of the ``motia-tui`` console script."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the terminal app (not built yet: says so instead of failing)."""
    print("motia-tui is not built yet (see issue 7).", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
