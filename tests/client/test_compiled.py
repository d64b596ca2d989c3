"""The core the tests run is the one the build made, and it matches its sources.

``setup.py`` records the SHA-256 of each source it compiled in
``motia_client/_core_build.py``. A compiled module older than its source would
silently shadow it (Python prefers the extension module): these tests fail
instead, and say how to rebuild.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import platform
import shlex
import shutil
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest

import motia_client
from tests.conftest import CORE, PURE

PACKAGE = Path(motia_client.__file__ or "").parent
REBUILD = "rebuild with `make install` (or `pip install -e .`)"


def core_module(name: str) -> ModuleType:
    return importlib.import_module(f"motia_client.{name}")


def is_compiled(module: ModuleType) -> bool:
    path = module.__file__ or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def build_record() -> dict[str, str] | None:
    """The hashes the last compiled build recorded, or ``None`` for a pure-Python build."""
    try:
        record = importlib.import_module("motia_client._core_build")
    except ImportError:
        return None
    sources: dict[str, str] = record.SOURCES
    return sources


def can_compile() -> bool:
    """Whether setup.py should have compiled the core here (CPython with a C compiler)."""
    if platform.python_implementation() != "CPython":
        return False
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    return bool(compiler) and shutil.which(compiler[0]) is not None


@pytest.mark.skipif(not PURE, reason="MOTIA_CLIENT_COMPILE=0 runs only")
@pytest.mark.parametrize("name", CORE)
def test_with_compile_off_the_core_is_imported_from_its_sources(name: str) -> None:
    module = core_module(name)
    assert not is_compiled(module)
    assert Path(module.__file__ or "").name == f"{name}.py"


@pytest.mark.skipif(PURE, reason="the pure-Python run imports the sources")
@pytest.mark.parametrize("name", CORE)
def test_the_compiled_core_is_the_one_imported_and_matches_its_source(name: str) -> None:
    record = build_record()
    module = core_module(name)
    if record is None:
        assert not is_compiled(module), f"{name} is compiled but no build recorded it: {REBUILD}"
        pytest.skip("pure-Python build")
    assert is_compiled(module), f"the build compiled {name}, but Python imports {module.__file__}"
    # Not next to module.__file__: mypyc sets it to a wrong directory for modules
    # first imported by another compiled module (motia_client/motia_client/...).
    source = PACKAGE / f"{name}.py"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert digest == record[name], f"{source} changed since it was compiled: {REBUILD}"


@pytest.mark.skipif(PURE, reason="the pure-Python run imports the sources")
def test_the_build_compiled_the_core_where_it_can() -> None:
    # A core change that mypyc rejects makes the build fall back to pure Python:
    # the tests would still pass, slower. This is where that gets noticed.
    if not can_compile():
        pytest.skip("no C compiler: the pure-Python build is expected")
    assert build_record() is not None, (
        "the core was not compiled although a C compiler is here; "
        f"see why with `pip install -v -e .`, or set MOTIA_CLIENT_COMPILE=0; {REBUILD}"
    )
