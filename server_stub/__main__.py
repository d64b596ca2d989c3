"""Entry point of the ``motia-stub`` console script."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the reference server (not built yet: says so instead of failing)."""
    print("motia-stub is not built yet (see issue 3).", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
