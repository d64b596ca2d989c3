"""Fixtures for the whole suite.

The client reads the proxy environment by default (``proxy=True``), like
``websockets.connect``: a developer's or CI's ``HTTPS_PROXY`` would send the
tests' loopback connections to that proxy. Every test starts without one; the
proxy tests set what they need.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every ``*_proxy`` variable (any case) for the duration of a test."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
