"""Update operations (``state::update`` / ``stream::update``): strict parsing and application.

Parsing happens before any storage is touched, so a bad op fails the whole call with the
reference's ``deserialization_error`` and changes nothing. Application follows the KvStore
semantics of ENGINE-FUNCTIONS §4.4 for every adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iii_engine.input import deserialization_error

OP_TYPES = ("set", "merge", "increment", "decrement", "remove")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class UpdateOp:
    """One parsed operation. ``path`` is a single top-level key (``None`` only for merge)."""

    type: str
    path: str | None
    value: Any = None
    by: int = 0


def parse_ops(function_id: str, raw: Any) -> list[UpdateOp]:
    """Validate the ``ops`` array; raises ``deserialization_error`` naming the problem."""
    if not isinstance(raw, list):
        raise deserialization_error(function_id, "invalid type for `ops`: expected an array")
    return [_parse_op(function_id, index, item) for index, item in enumerate(raw)]


def _parse_op(function_id: str, index: int, item: Any) -> UpdateOp:
    def fail(detail: str) -> Exception:
        return deserialization_error(function_id, f"ops[{index}]: {detail}")

    if not isinstance(item, dict):
        raise fail("expected an object with a `type`")
    kind = item.get("type")
    if kind not in OP_TYPES:
        expected = ", ".join(f"`{name}`" for name in OP_TYPES)
        shown = f"`{kind}`" if isinstance(kind, str) else repr(kind)
        raise fail(f"unknown variant {shown}, expected one of {expected}")
    path = item.get("path")
    if kind == "merge":
        if path is not None and not isinstance(path, str):
            raise fail("invalid type for `path`: expected a string or null")
        if "value" not in item:
            raise fail("missing field `value`")
        return UpdateOp(kind, path, item["value"])
    if not isinstance(path, str):
        raise fail("missing field `path`" if path is None else "invalid type for `path`: expected a string")
    if kind in ("increment", "decrement"):
        by = item.get("by")
        if by is None:
            raise fail("missing field `by`")
        if isinstance(by, bool) or not isinstance(by, int) or not _I64_MIN <= by <= _I64_MAX:
            raise fail(f"invalid type for `by`: expected a 64-bit integer, got {by!r}")
        return UpdateOp(kind, path, by=by)
    return UpdateOp(kind, path, item.get("value"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def apply_ops(current: Any, ops: list[UpdateOp]) -> Any:
    """Apply ``ops`` in order to ``current`` (``None`` for a missing key starts as ``{}``).

    Returns the new value; the input is not mutated. Ops that do not apply (e.g. ``increment``
    on a non-object) are no-ops, as in the reference.
    """
    value = {} if current is None else current
    if isinstance(value, dict):
        value = dict(value)
    for op in ops:
        if op.type == "set" and op.path == "" and op.value is not None:
            value = dict(op.value) if isinstance(op.value, dict) else op.value
        elif op.type == "merge":
            if not op.path and isinstance(value, dict) and isinstance(op.value, dict):
                value = {**value, **op.value}
        elif not isinstance(value, dict):
            continue
        elif op.type == "set":
            value[op.path] = op.value
        elif op.type == "increment":
            held = value.get(op.path)
            value[op.path] = held + op.by if _is_int(held) else op.by
        elif op.type == "decrement":
            held = value.get(op.path, _ABSENT)
            value[op.path] = -op.by if held is _ABSENT else held - op.by if _is_int(held) else 0
        elif op.type == "remove":
            value.pop(op.path, None)
    return value


_ABSENT = object()
