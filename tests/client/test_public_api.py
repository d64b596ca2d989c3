"""The public surface: __all__ is sorted, complete, and listed on the docs' Reference page."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import motia_client
import motia_client.rx
import motia_client.sse
import motia_client.testing

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
_ROW_NAME = re.compile(r"^\|\s*`(?P<name>[A-Za-z_][A-Za-z0-9_]*)`\s*\|")


def documented_names(text: str, module: str) -> set[str]:
    """The names in the first column of the tables under the heading ``## `module` ``."""
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    for section in sections:
        if section.startswith(f"`{module}`"):
            return {m["name"] for line in section.splitlines() if (m := _ROW_NAME.match(line))}
    raise AssertionError(f"docs/reference.md has no section for {module}")


def test_all_is_sorted_and_unique() -> None:
    assert list(motia_client.__all__) == sorted(set(motia_client.__all__))


def test_all_is_complete() -> None:
    # dir(), not vars(): the HTTP clients are imported on first access (PEP 562).
    public = {
        name
        for name in dir(motia_client)
        if not name.startswith("_")
        and not inspect.ismodule(getattr(motia_client, name))
        and name != "annotations"
    }
    assert public == set(motia_client.__all__)


def test_exported_objects_report_the_public_module() -> None:
    for name in motia_client.__all__:
        obj = getattr(motia_client, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "motia_client", name


def test_every_error_derives_from_motia_error() -> None:
    for name in motia_client.__all__:
        obj = getattr(motia_client, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert issubclass(obj, motia_client.MotiaError), name


@pytest.mark.parametrize(
    "module", [motia_client, motia_client.rx, motia_client.sse, motia_client.testing]
)
def test_the_reference_page_lists_exactly_the_public_names(module: ModuleType) -> None:
    documented = documented_names(REFERENCE.read_text(encoding="utf-8"), module.__name__)
    public = set(module.__all__)
    assert not public - documented, f"docs/reference.md does not list {sorted(public - documented)}"
    assert not documented - public, f"docs/reference.md lists {sorted(documented - public)}"


def test_documented_names_reads_the_module_section_only() -> None:
    text = "## `a`\n\n| name |\n| --- |\n| `One` | x |\n\n## `b`\n\n| `Two` | y |\n"
    assert documented_names(text, "a") == {"One"}
    assert documented_names(text, "b") == {"Two"}
    with pytest.raises(AssertionError, match="no section"):
        documented_names(text, "c")
