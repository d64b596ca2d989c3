"""Fixtures for the whole suite, and which core the tests run against.

The client reads the proxy environment by default (``proxy=True``), like
``websockets.connect``: a developer's or CI's ``HTTPS_PROXY`` would send the
tests' loopback connections to that proxy. Every test starts without one; the
proxy tests set what they need.

``setup.py`` compiles the sans-I/O core (``_protocol``, ``_state``, ``_views``,
``_rooms``, ``_refusals``) and the per-frame path (``_fanout``) with mypyc when
it can. With ``MOTIA_CLIENT_COMPILE=0`` the tests import those modules from
their ``.py`` sources even where compiled
modules are installed, so both builds are tested in one environment
(``make pytest`` runs the core's tests a second time that way).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

CORE = ("_protocol", "_state", "_views", "_rooms", "_refusals", "_fanout")
PURE = os.environ.get("MOTIA_CLIENT_COMPILE", "1").strip().lower() in ("0", "false", "no", "off")


class PureCoreFinder(importlib.abc.MetaPathFinder):
    """Find the core modules' ``.py`` files first, ahead of any compiled module."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != "motia_client" or name not in CORE or not path:
            return None
        for entry in path:
            source = Path(entry, f"{name}.py")
            if source.is_file():
                return importlib.util.spec_from_file_location(fullname, source)
        return None


if PURE:
    assert not any(f"motia_client.{name}" in sys.modules for name in CORE), "imported too early"
    sys.meta_path.insert(0, PureCoreFinder())


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every ``*_proxy`` variable (any case) for the duration of a test."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
