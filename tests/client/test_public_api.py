"""The public surface: __all__ is sorted, complete and documented."""

from __future__ import annotations

import inspect
from pathlib import Path

import motia_client

README = Path(__file__).resolve().parents[2] / "README.md"


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


def test_readme_documents_every_public_name() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for name in motia_client.__all__ if name not in text]
    assert not missing, f"README does not mention {missing}"
