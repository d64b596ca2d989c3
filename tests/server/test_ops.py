"""Update ops: each op on dotted paths, creation rules, errors, and purity."""

from __future__ import annotations

from typing import Any

import pytest

from server_stub.errors import OpError
from server_stub.ops import IncrementOp, apply_ops, parse_ops


def run(item: dict[str, Any] | None, *ops: dict[str, Any]) -> dict[str, Any]:
    return apply_ops(item, parse_ops(list(ops)))


def test_set_creates_intermediate_objects() -> None:
    assert run({"a": 1}, {"type": "set", "path": "b.c.d", "value": [1, 2]}) == {
        "a": 1,
        "b": {"c": {"d": [1, 2]}},
    }


def test_set_overwrites() -> None:
    assert run({"a": {"b": 1}}, {"type": "set", "path": "a", "value": None}) == {"a": None}


def test_merge_at_root_and_at_a_path() -> None:
    item = {"a": 1, "meta": {"x": 1}}
    assert run(item, {"type": "merge", "value": {"b": 2}}) == {"a": 1, "b": 2, "meta": {"x": 1}}
    assert run(item, {"type": "merge", "path": "meta", "value": {"y": 2}})["meta"] == {
        "x": 1,
        "y": 2,
    }
    assert run(item, {"type": "merge", "path": "", "value": {"a": 3}})["a"] == 3


def test_merge_into_a_non_object_fails() -> None:
    with pytest.raises(OpError, match="not an object"):
        run({"a": 1}, {"type": "merge", "path": "a", "value": {"b": 2}})


def test_increment_and_decrement_start_at_zero() -> None:
    assert run(None, {"type": "increment", "path": "watching", "by": 1}) == {"watching": 1}
    assert run({"n": 5}, {"type": "decrement", "path": "n", "by": 2}) == {"n": 3}
    assert run({"n": 1.5}, {"type": "increment", "path": "n"}) == {"n": 2.5}
    assert run({}, {"type": "decrement", "path": "a.b"}) == {"a": {"b": -1}}


def test_counter_on_a_non_number_fails() -> None:
    for value in ("3", True, None, [1]):
        with pytest.raises(OpError, match="not a number"):
            run({"n": value}, {"type": "increment", "path": "n"})


def test_remove_existing_and_missing_paths() -> None:
    assert run({"a": {"b": 1, "c": 2}}, {"type": "remove", "path": "a.b"}) == {"a": {"c": 2}}
    assert run({"a": 1}, {"type": "remove", "path": "x.y"}) == {"a": 1}


def test_ops_apply_in_order() -> None:
    result = run(
        None,
        {"type": "set", "path": "n", "value": 10},
        {"type": "increment", "path": "n", "by": 5},
        {"type": "remove", "path": "n"},
        {"type": "set", "path": "done", "value": True},
    )
    assert result == {"done": True}


def test_apply_does_not_mutate_its_input() -> None:
    item = {"a": {"b": 1}}
    run(item, {"type": "set", "path": "a.b", "value": 2})
    assert item == {"a": {"b": 1}}


def test_path_through_a_scalar_fails() -> None:
    with pytest.raises(OpError) as info:
        run({"a": 1}, {"type": "set", "path": "a.b", "value": 2})
    assert info.value.errors[0].field == "ops.0.path"


@pytest.mark.parametrize("path", ["a..b", ".a", "a.", "x." * 40 + "y"])
def test_malformed_paths_fail(path: str) -> None:
    with pytest.raises(OpError, match="bad path"):
        run({}, {"type": "set", "path": path, "value": 1})


@pytest.mark.parametrize(
    ("ops", "field"),
    [
        ([{"type": "multiply", "path": "a"}], "0"),
        ([{"type": "set", "value": 1}], "0.set.path"),
        ([{"type": "increment", "path": "a", "by": "2"}], "0.increment.by"),
        ([{"type": "increment", "path": "a", "by": True}], "0.increment.by"),
        ([{"type": "merge", "value": [1]}], "0.merge.value"),
        ([{"type": "remove", "path": ""}], "0.remove.path"),
    ],
)
def test_invalid_ops_are_rejected_with_field_errors(ops: list[Any], field: str) -> None:
    with pytest.raises(OpError) as info:
        parse_ops(ops)
    assert info.value.errors
    assert info.value.errors[0].field.startswith(field)


def test_ops_must_be_a_list() -> None:
    for bad in ("set", {"type": "set"}, None):
        with pytest.raises(OpError, match="must be a list"):
            parse_ops(bad)


def test_op_models_are_accepted_too() -> None:
    assert apply_ops({}, parse_ops([IncrementOp(path="n", by=3)])) == {"n": 3}
