"""Build script: the sans-I/O core compiled with mypyc when possible, pure Python otherwise.

The metadata is in pyproject.toml; this file only adds the optional extensions.
``motia_client``'s sans-I/O core (``_protocol``, ``_state``, ``_views``,
``_rooms``, ``_refusals``) and its per-frame path (``_fanout``) are compiled
into one shared library, ``motia_client._core__mypyc``, plus one small
extension per module. Whatever goes wrong (mypyc missing or
failing, no C compiler, ``MOTIA_CLIENT_COMPILE=0``), the install goes on with
the pure-Python modules: compilation never fails an install.

Each compiled build writes ``motia_client/_core_build.py`` (not in git) with the
SHA-256 of the sources it compiled, so the tests notice a compiled module
that is older than its source (``tests/client/test_compiled.py``).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

CORE = ("_protocol", "_state", "_views", "_rooms", "_refusals", "_fanout")
SOURCES = [f"motia_client/{name}.py" for name in CORE]
BUILD_INFO = "motia_client/_core_build.py"
METADATA_ONLY = {"egg_info", "dist_info", "sdist"}
# An editable install (or build_ext --inplace) puts the compiled modules in the source tree.
IN_PLACE = bool({"editable_wheel", "--inplace", "-i"} & set(sys.argv))
ROOT = Path(__file__).resolve().parent


def _say(message: str) -> None:
    print(f"motia-client: {message}", file=sys.stderr)


def _wanted() -> bool:
    if os.environ.get("MOTIA_CLIENT_COMPILE", "1").strip().lower() in ("0", "false", "no", "off"):
        _say("MOTIA_CLIENT_COMPILE=0: installing the pure-Python core")
        return False
    if platform.python_implementation() != "CPython":
        _say("not CPython: installing the pure-Python core")
        return False
    return True


def _remove_in_place_build(in_place: bool = IN_PLACE) -> None:
    """Delete compiled core modules left in the source tree: they would shadow the sources."""
    if not in_place:
        return  # a wheel build leaves the developer's in-place build alone
    package = ROOT / "motia_client"
    for name in (*CORE, "_core__mypyc"):
        for path in package.glob(f"{name}.*.so"):
            path.unlink()
        for path in package.glob(f"{name}.*.pyd"):
            path.unlink()
    (ROOT / BUILD_INFO).unlink(missing_ok=True)


def _extensions() -> list[Any]:
    """The mypyc extensions, or none if mypyc cannot produce them (it type-checks first)."""
    try:
        from mypyc.build import mypycify

        extensions: list[Any] = mypycify(
            # The same types whatever the target environment holds: the runtime
            # dependencies (pydantic, orjson, sortedcontainers) are Any for the
            # compiler, and the modules the core imports are analysed, not reported on.
            [
                "--no-site-packages",
                "--ignore-missing-imports",
                "--follow-imports=silent",
                "--no-warn-unused-ignores",
                "--cache-dir=build/mypyc/mypy-cache",  # not the developer's .mypy_cache
                *SOURCES,
            ],
            group_name="motia_client._core",
            target_dir="build/mypyc",
        )
    except (Exception, SystemExit) as exc:  # mypyc exits on a type error
        _say(f"mypyc could not compile the core ({exc!r}): installing pure Python")
        return []
    return extensions


def _build_info() -> str:
    lines = [
        '"""Written by setup.py when it compiles the core: the SHA-256 of each compiled source."""',
        "",
        "SOURCES = {",
    ]
    for name, path in zip(CORE, SOURCES, strict=True):
        digest = hashlib.sha256((ROOT / path).read_bytes()).hexdigest()
        lines.append(f'    "{name}": "{digest}",')
    lines.append("}")
    return "\n".join(lines) + "\n"


class OptionalBuildExt(build_ext):
    """Build the extensions if the compiler can; otherwise leave pure Python behind."""

    def finalize_options(self) -> None:
        # mypyc runs here, not when setup.py is loaded, and only for a build: pip
        # also loads setup.py for the metadata, which finalizes this command too.
        if self.distribution.ext_modules == STAND_IN and not METADATA_ONLY & set(sys.argv):
            self.distribution.ext_modules = _extensions()
            if not self.distribution.ext_modules:
                # Nothing to build, so run() may never be called: drop an older in-place
                # build now (pip's editable install builds in place without saying so).
                _remove_in_place_build(IN_PLACE or bool(self.inplace))
        super().finalize_options()

    def run(self) -> None:
        if not self.extensions:
            self._discard()
            return
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, a compiler error
            _say(f"compiling the core failed ({exc!r}): installing pure Python")
            self._discard()
            return
        self._write_build_info()

    def _discard(self) -> None:
        """Remove what was built (or a stale build), so that every module is pure Python."""
        for ext in self.extensions:
            Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)
        Path(self.build_lib, BUILD_INFO).unlink(missing_ok=True)
        # pip's editable install builds in place without saying so on the command line.
        _remove_in_place_build(IN_PLACE or bool(self.inplace))
        self.extensions = []
        self.distribution.ext_modules = []

    def _write_build_info(self) -> None:
        target = ROOT / BUILD_INFO if self.inplace else Path(self.build_lib) / BUILD_INFO
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_build_info())

    def get_outputs(self) -> list[str]:
        outputs: list[str] = super().get_outputs()
        if self.extensions:
            outputs.append(os.path.join(self.build_lib, BUILD_INFO))
        return outputs


class BuildPy(build_py):
    """Leave out a build record lying in the source tree: only build_ext writes one."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules: list[tuple[str, str, str]] = super().find_package_modules(package, package_dir)
        return [m for m in modules if Path(m[2]).resolve() != ROOT / BUILD_INFO]


# A stand-in that tells setuptools there are extensions (so build_ext runs and the
# wheel is tagged for this platform); build_ext puts mypyc's in its place.
STAND_IN = [Extension("motia_client._core__mypyc", sources=[])] if _wanted() else []
if not STAND_IN:
    _remove_in_place_build()

setup(
    ext_modules=STAND_IN,
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPy},
)
