"""The ``make stress`` runner itself: its command line and its figures (one quick category)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability import stress


def test_unknown_categories_are_refused() -> None:
    with pytest.raises(SystemExit) as refused:
        stress.main(["chaos", "nope"])
    assert refused.value.code == 2


def test_a_quick_fuzz_run_reports_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures.json"
    assert stress.main(["fuzz", "--quick", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["fuzz"]
    assert figures["problems"] == []
    assert figures["session_generated"] >= 5
    assert figures["stub_http"] >= 5
    printed = capsys.readouterr().out
    assert "FUZZ: " in printed
    assert "STRESS: fuzz in " in printed
    assert "failed: none" in printed
