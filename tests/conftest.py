"""Fixtures for the whole suite.

The client reads the proxy environment by default (``proxy=True``), like
``websockets.connect``: a developer's or CI's ``HTTPS_PROXY`` would send the
tests' loopback connections to that proxy. Every test starts without one; the
proxy tests set what they need.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import motia_client
from motia_client import _session

_PACKAGE = Path(motia_client.__file__).resolve().parent
_SOURCES = Path(__file__).resolve().parents[1] / "motia_client"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail at once when the tests would not run the build they are meant to.

    ``MOTIA_CLIENT_EXPECT=compiled`` (``make test``): the installed release wheel, whose
    core is compiled; otherwise the sources, and no compiled module may sit among them
    (it would shadow its edited source).
    """
    compiled = Path(_session.__file__ or "").suffix != ".py"
    if os.environ.get("MOTIA_CLIENT_EXPECT") == "compiled":
        if _SOURCES.resolve() == _PACKAGE or not compiled:
            raise pytest.UsageError(
                f"expected the installed compiled wheel, got {_session.__file__}"
            )
        return
    stale = sorted(p.name for p in _SOURCES.glob("*.so"))
    if stale:
        raise pytest.UsageError(
            f"compiled modules in the source tree shadow their sources: {stale}; delete them"
        )


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every ``*_proxy`` variable (any case) for the duration of a test."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
