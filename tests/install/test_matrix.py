"""The install matrix's own rules (the matrix itself runs in `make install-matrix`)."""

from __future__ import annotations

import pytest

from tests.install import matrix


def test_a_missing_interpreter_is_a_failure_that_says_how_to_fix_it() -> None:
    with pytest.raises(matrix.MatrixError, match=r"Python 3\.99 is not installed.*pyenv install"):
        matrix.find_python("3.99")


def test_the_dev_interpreter_is_the_one_behind_this_venv() -> None:
    found = matrix.find_python("dev")
    assert found.exists()
    assert found.name.startswith("python3.")


def test_an_unexpected_heavy_import_fails() -> None:
    ok, detail = matrix.judge_imports({*matrix.STILL_IMPORTED_EAGERLY, "httpx"})
    assert not ok
    assert "must not import httpx" in detail


def test_the_expected_failure_list_can_only_shrink() -> None:
    # A module made lazy must leave STILL_IMPORTED_EAGERLY, so it cannot come back unseen.
    for module in matrix.STILL_IMPORTED_EAGERLY:
        ok, detail = matrix.judge_imports(set(matrix.STILL_IMPORTED_EAGERLY) - {module})
        assert not ok
        assert f"{module} no longer imported" in detail
    assert matrix.judge_imports(set(matrix.STILL_IMPORTED_EAGERLY))[0]


def test_cells_parse_as_python_and_extras() -> None:
    assert matrix.Cell.parse("3.10:") == matrix.Cell("3.10", "")
    assert matrix.Cell.parse("dev:all") == matrix.Cell("dev", "all")
