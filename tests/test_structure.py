"""The packages' structure: no import cycle, and each module imports on its own.

Every import counts, including those under ``TYPE_CHECKING`` and those inside
functions (a lazy import still ties two modules together): a cycle means two
modules that cannot be understood, or changed, apart.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("motia_client", "motia_client_tui", "server_stub")


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known and t != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package: str) -> None:
    modules = _modules(package)
    known = set(modules)
    # A package's __init__ re-exports its modules: an edge to it is an edge to them.
    graph = {name: _imports(name, path, known) - {package} for name, path in modules.items()}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_library_module_imports_on_its_own() -> None:
    """Each module of motia_client, first in a fresh interpreter: none needs another first."""
    names = sorted(name for name in _modules("motia_client") if name != "motia_client.testing")
    code = (
        "import importlib, subprocess, sys\n"
        f"names = {names!r}\n"
        "bad = []\n"
        "for name in names:\n"
        "    done = subprocess.run([sys.executable, '-c', f'import {name}'],\n"
        "                          capture_output=True, text=True, timeout=60)\n"
        "    if done.returncode: bad.append((name, done.stderr.strip().splitlines()[-1:]))\n"
        "print(bad)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# Private names read on another object that belong to an outside protocol, not to us.
_FOREIGN_PROTOCOL = {"_replace", "_fields", "_asdict", "_repr_html_"}


def _private_reads(path: Path) -> list[tuple[int, str]]:
    """``obj._name`` reads where ``_name`` is not defined in the same module (issue 17)."""
    tree = ast.parse(path.read_text(), str(path))
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            defined.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            defined.add(node.value)  # __slots__ entries and setattr names
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__") or name in _FOREIGN_PROTOCOL:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
            continue
        if name not in defined:
            bad.append((node.lineno, ast.unparse(node)))
    return bad


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_reads_another_modules_private_attributes(package: str) -> None:
    """A private attribute is read only by the module (the class family) that defines it."""
    found = {
        f"{path.relative_to(ROOT)}:{line}": text
        for path in _modules(package).values()
        for line, text in _private_reads(path)
    }
    assert found == {}


def test_the_private_read_check_finds_a_foreign_read(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "class A:\n    def f(self, b):\n        self._mine = 1\n        return b._theirs\n"
    )
    assert _private_reads(module) == [(4, "b._theirs")]
