"""Update-op semantics (ENGINE-FUNCTIONS §4.4) on plain values, edge cases included."""

from __future__ import annotations

from typing import Any

import pytest
from iii_engine import InvocationError
from iii_state import apply_ops, parse_ops


def run(current: Any, *ops: dict[str, Any]) -> Any:
    return apply_ops(current, parse_ops("state::update", list(ops)))


@pytest.mark.parametrize(
    ("current", "ops", "expected"),
    [
        (None, [], {}),
        (None, [{"type": "set", "path": "", "value": None}], {"": None}),
        ({"a": 1}, [{"type": "set", "path": "", "value": [1]}], [1]),
        ({"a": 1}, [{"type": "set", "path": "b"}], {"a": 1, "b": None}),
        ([1], [{"type": "set", "path": "a", "value": 1}], [1]),
        ({"a": 1}, [{"type": "merge", "value": {"a": 2, "b": 3}}], {"a": 2, "b": 3}),
        ({"a": 1}, [{"type": "merge", "path": None, "value": {"b": 3}}], {"a": 1, "b": 3}),
        ({"a": 1}, [{"type": "merge", "path": "a", "value": {"b": 3}}], {"a": 1}),
        ({"a": 1}, [{"type": "merge", "value": 5}], {"a": 1}),
        ("text", [{"type": "merge", "value": {"b": 3}}], "text"),
        ({"n": 2}, [{"type": "increment", "path": "n", "by": -5}], {"n": -3}),
        ({"n": 2.5}, [{"type": "increment", "path": "n", "by": 1}], {"n": 1}),
        ({"n": True}, [{"type": "increment", "path": "n", "by": 1}], {"n": 1}),
        ({"n": "x"}, [{"type": "decrement", "path": "n", "by": 1}], {"n": 0}),
        ({}, [{"type": "decrement", "path": "n", "by": 3}], {"n": -3}),
        (7, [{"type": "increment", "path": "n", "by": 1}], 7),
        ({"a": 1}, [{"type": "remove", "path": "a"}, {"type": "remove", "path": "zz"}], {}),
        ({"a.b": 1}, [{"type": "increment", "path": "a.b", "by": 1}], {"a.b": 2}),
    ],
)
def test_semantics(current: Any, ops: list[dict[str, Any]], expected: Any) -> None:
    assert run(current, *ops) == expected


def test_input_is_not_mutated() -> None:
    current = {"n": 1, "nested": {"x": 1}}
    replacement = {"fresh": True}
    run(current, {"type": "increment", "path": "n", "by": 1}, {"type": "remove", "path": "nested"})
    run(None, {"type": "set", "path": "", "value": replacement}, {"type": "set", "path": "k", "value": 1})
    assert current == {"n": 1, "nested": {"x": 1}} and replacement == {"fresh": True}


@pytest.mark.parametrize("by", [2**63, -(2**63) - 1, 1.0, "1", None])
def test_by_must_be_a_64_bit_integer(by: Any) -> None:
    with pytest.raises(InvocationError) as failure:
        run({}, {"type": "increment", "path": "n", "by": by})
    assert failure.value.code == "deserialization_error"
