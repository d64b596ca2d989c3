"""The package as a user imports it: its version, what it imports, its loggers."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
import sys

import pytest

import motia_client
from tests.install.matrix import HEAVY, judge_imports


def python(code: str) -> str:
    """Run ``code`` in a fresh interpreter of this venv; return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_version_is_the_installed_distribution_version() -> None:
    assert motia_client.__version__ == importlib.metadata.version("motia-client")


def test_import_motia_client_leaves_the_heavy_libraries_alone() -> None:
    # The dev venv has every extra, so httpx would also pull in rich and click here.
    code = (
        "import json, sys; import motia_client; "
        f"print(json.dumps([m for m in {sorted(HEAVY)!r} if m in sys.modules]))"
    )
    ok, detail = judge_imports(set(json.loads(python(code))))
    assert ok, detail


def test_lazy_names_load_on_first_use_and_read_motia_client() -> None:
    code = """
import sys
import motia_client
assert "httpx" not in sys.modules and "reactivex" not in sys.modules
assert {"MotiaHttp", "AsyncMotiaHttp", "rx", "sse"} <= set(dir(motia_client))
print(motia_client.MotiaHttp.__module__, motia_client.AsyncMotiaHttp.__module__)
print(motia_client.rx.use_stream_group.__module__, "httpx" in sys.modules)
"""
    assert python(code).split() == ["motia_client", "motia_client", "motia_client.rx", "True"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'StreamClinet'"):
        motia_client.StreamClinet  # type: ignore[attr-defined]  # noqa: B018


def test_the_library_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("motia_client").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
