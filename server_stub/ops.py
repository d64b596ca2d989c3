"""Atomic update ops on dotted paths: ``set``, ``merge``, ``increment``, ``decrement``, ``remove``.

The wire form follows Motia and the iii engine::

    {"type": "set", "path": "completedAt", "value": "2025-01-01T00:00:00Z"}
    {"type": "merge", "path": "meta", "value": {"a": 1}}       # path optional: the root
    {"type": "increment", "path": "watching", "by": 1}         # by defaults to 1
    {"type": "decrement", "path": "watching", "by": 1}
    {"type": "remove", "path": "meta.a"}

Paths are dot-separated object keys (no array indexes). ``set``, ``merge`` and the
counters create missing intermediate objects; a counter on a missing field starts at
0; ``remove`` of a missing path does nothing. Applying is pure: a new item is returned.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from .errors import FieldError, OpError, pydantic_field_errors
from .frames import Item

MAX_PATH_DEPTH = 32

Path = Annotated[str, Field(min_length=1, max_length=1024)]


class _Op(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SetOp(_Op):
    """Set ``path`` to ``value`` (overwrites)."""

    type: Literal["set"] = "set"
    path: Path
    value: Any


class MergeOp(_Op):
    """Shallow-merge the object ``value`` into the object at ``path`` (the root if absent)."""

    type: Literal["merge"] = "merge"
    path: str | None = Field(default=None, max_length=1024)
    value: dict[str, Any]


class IncrementOp(_Op):
    """Add ``by`` to the number at ``path`` (0 when missing)."""

    type: Literal["increment"] = "increment"
    path: Path
    by: StrictInt | StrictFloat = 1


class DecrementOp(_Op):
    """Subtract ``by`` from the number at ``path`` (0 when missing)."""

    type: Literal["decrement"] = "decrement"
    path: Path
    by: StrictInt | StrictFloat = 1


class RemoveOp(_Op):
    """Delete the key at ``path`` if it exists."""

    type: Literal["remove"] = "remove"
    path: Path


UpdateOp = Annotated[
    SetOp | MergeOp | IncrementOp | DecrementOp | RemoveOp, Field(discriminator="type")
]
_OPS = TypeAdapter(list[UpdateOp])


def parse_ops(raw: object) -> list[UpdateOp]:
    """Validate ops given as dicts (wire form) or op models; raise OpError listing field errors."""
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise OpError("ops must be a list", [FieldError("ops", "must be a list", "list_type")])
    plain = [op.model_dump() if isinstance(op, BaseModel) else op for op in raw]
    try:
        return _OPS.validate_python(plain)
    except PydanticValidationError as exc:
        errors = pydantic_field_errors(exc.errors())
        raise OpError(
            f"invalid update ops: {errors[0].field}: {errors[0].message}", errors
        ) from None


def _split(path: str, index: int) -> list[str]:
    parts = path.split(".")
    if any(not part for part in parts) or len(parts) > MAX_PATH_DEPTH:
        raise OpError(
            f"ops[{index}]: bad path {path!r}",
            [FieldError(f"ops.{index}.path", "path must be dot-separated non-empty keys")],
        )
    return parts


def _parent(item: Item, parts: list[str], index: int, *, create: bool) -> dict[str, Any] | None:
    """The object holding the last key of ``parts``; created on the way when ``create``."""
    node: dict[str, Any] = item
    for depth, key in enumerate(parts[:-1]):
        child = node.get(key)
        if child is None:
            if not create:
                return None
            child = {}
            node[key] = child
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise OpError(
                f"ops[{index}]: {where!r} is not an object",
                [FieldError(f"ops.{index}.path", f"{where!r} is not an object")],
            )
        node = child
    return node


def _apply_one(item: Item, op: UpdateOp, index: int) -> None:
    if isinstance(op, MergeOp):
        if op.path in (None, ""):
            target: dict[str, Any] | None = item
        else:
            parts = _split(op.path, index)
            parent = _parent(item, parts, index, create=True)
            assert parent is not None
            target = parent.setdefault(parts[-1], {})
        if not isinstance(target, dict):
            raise OpError(
                f"ops[{index}]: merge target is not an object",
                [FieldError(f"ops.{index}.path", "merge target is not an object")],
            )
        target.update(copy.deepcopy(op.value))
        return
    parts = _split(op.path, index)
    parent = _parent(item, parts, index, create=not isinstance(op, RemoveOp))
    key = parts[-1]
    if isinstance(op, SetOp):
        assert parent is not None
        parent[key] = copy.deepcopy(op.value)
    elif isinstance(op, RemoveOp):
        if parent is not None:
            parent.pop(key, None)
    else:
        assert parent is not None
        current = parent.get(key, 0)
        if isinstance(current, bool) or not isinstance(current, (int, float)):
            raise OpError(
                f"ops[{index}]: {op.path!r} is not a number",
                [FieldError(f"ops.{index}.path", f"{op.path!r} is not a number")],
            )
        parent[key] = current + op.by if isinstance(op, IncrementOp) else current - op.by


def apply_ops(item: Item | None, ops: Sequence[UpdateOp]) -> Item:
    """Apply ``ops`` in order to a copy of ``item`` (``{}`` when missing) and return it."""
    result: Item = copy.deepcopy(item) if item is not None else {}
    for index, op in enumerate(ops):
        _apply_one(result, op, index)
    return result
