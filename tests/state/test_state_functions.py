"""The state functions through a real worker, on every adapter (memory, file, Redis)."""

from __future__ import annotations

import pytest

from tests.state.support import call, call_error, unique, workers


def test_set_get_delete_shapes(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        scope = unique("users")
        assert call(client, "state::set", {"scope": scope, "key": "u1", "value": {"name": "Ada"}}) == {
            "old_value": None,
            "new_value": {"name": "Ada"},
        }
        assert call(client, "state::set", {"scope": scope, "key": "u1", "data": {"name": "Ada L."}}) == {
            "old_value": {"name": "Ada"},
            "new_value": {"name": "Ada L."},
        }
        assert call(client, "state::get", {"scope": scope, "key": "u1"}) == {"name": "Ada L."}
        assert call(client, "state::get", {"scope": scope, "key": "missing"}) is None
        assert call(client, "state::delete", {"scope": scope, "key": "u1"}) == {"name": "Ada L."}
        assert call(client, "state::get", {"scope": scope, "key": "u1"}) is None
        assert call(client, "state::delete", {"scope": scope, "key": "u1"}) is None


def test_values_of_every_json_type_round_trip(state_engine) -> None:
    values = [0, -7, 2**62, 1.5, "text ü 🚀", True, False, [1, [2, {"a": None}]], {"nested": {"x": [1]}}, ""]
    with workers(state_engine.ws_url) as (client,):
        scope = unique("types")
        for index, value in enumerate(values):
            call(client, "state::set", {"scope": scope, "key": f"k{index}", "value": value})
        for index, value in enumerate(values):
            assert call(client, "state::get", {"scope": scope, "key": f"k{index}"}) == value
        assert sorted(map(repr, call(client, "state::list", {"scope": scope}))) == sorted(map(repr, values))


def test_list_and_list_groups(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        first, second = unique("a"), unique("b")
        for index in range(3):
            call(client, "state::set", {"scope": first, "key": f"k{index}", "value": {"id": index}})
        call(client, "state::set", {"scope": second, "key": "only", "value": 1})
        assert sorted(item["id"] for item in call(client, "state::list", {"scope": first})) == [0, 1, 2]
        assert call(client, "state::list", {"scope": unique("empty")}) == []
        groups = call(client, "state::list_groups", {})["groups"]
        assert {first, second} <= set(groups)
        assert groups == sorted(set(groups))


def test_update_operations(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        scope = unique("counters")
        ops = [
            {"type": "increment", "path": "hits", "by": 1},
            {"type": "set", "path": "last", "value": "2026-03-15"},
            {"type": "merge", "path": "", "value": {"owner": "ada"}},
            {"type": "remove", "path": "tmp"},
        ]
        assert call(client, "state::update", {"scope": scope, "key": "c1", "ops": ops}) == {
            "old_value": None,
            "new_value": {"hits": 1, "last": "2026-03-15", "owner": "ada"},
        }
        call(
            client,
            "state::set",
            {"scope": scope, "key": "c2", "value": {"n": 5, "s": "x", "f": 1.5, "gone": 1}},
        )
        result = call(
            client,
            "state::update",
            {
                "scope": scope,
                "key": "c2",
                "ops": [
                    {"type": "decrement", "path": "n", "by": 2},
                    {"type": "decrement", "path": "s", "by": 2},
                    {"type": "increment", "path": "f", "by": 3},
                    {"type": "decrement", "path": "absent", "by": 4},
                    {"type": "remove", "path": "gone"},
                    {"type": "merge", "path": "sub", "value": {"ignored": True}},
                    {"type": "set", "path": "a.b", "value": None},
                ],
            },
        )
        assert result["new_value"] == {"n": 3, "s": 0, "f": 3, "absent": -4, "a.b": None}
        replaced = call(
            client,
            "state::update",
            {
                "scope": scope,
                "key": "c3",
                "ops": [
                    {"type": "set", "path": "", "value": 10},
                    {"type": "increment", "path": "x", "by": 1},
                ],
            },
        )
        assert replaced == {"old_value": None, "new_value": 10}
        empty = call(client, "state::update", {"scope": scope, "key": "c4", "ops": []})
        assert empty == {"old_value": None, "new_value": {}}
        assert call(client, "state::get", {"scope": scope, "key": "c4"}) == {}


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"key": "k", "value": 1}, "missing field `scope`"),
        ({"scope": 5, "key": "k", "value": 1}, "invalid type for `scope`"),
        ({"scope": "s", "key": "k"}, "missing field `value`"),
        ({"scope": "s", "key": "k", "value": 1, "ttl_ms": -5}, "ttl_ms"),
        ({"scope": "s", "key": "k", "value": 1, "ttl_ms": 1.5}, "ttl_ms"),
    ],
)
def test_set_rejects_bad_input(state_engine, payload, detail) -> None:
    with workers(state_engine.ws_url) as (client,):
        error = call_error(client, "state::set", payload)
        assert error["code"] == "deserialization_error"
        assert error["message"].startswith("Failed to deserialize input for state::set: ")
        assert detail in error["message"]


@pytest.mark.parametrize(
    ("ops", "detail"),
    [
        ([{"type": "multiply", "path": "n", "by": 2}], "unknown variant `multiply`"),
        ([{"type": "increment", "path": "n", "by": 1.5}], "`by`"),
        ([{"type": "increment", "path": "n", "by": True}], "`by`"),
        ([{"type": "increment", "path": "n"}], "missing field `by`"),
        ([{"type": "set", "value": 1}], "missing field `path`"),
        ([{"type": "merge", "path": ""}], "missing field `value`"),
        (["set"], "ops[1]"),
        ({"type": "set"}, "`ops`"),
    ],
)
def test_update_rejects_bad_ops_and_changes_nothing(state_engine, ops, detail) -> None:
    with workers(state_engine.ws_url) as (client,):
        scope = unique("bad")
        call(client, "state::set", {"scope": scope, "key": "k", "value": {"n": 1}})
        good = {"type": "increment", "path": "n", "by": 1}
        body = {"scope": scope, "key": "k", "ops": [good, *ops] if isinstance(ops, list) else ops}
        error = call_error(client, "state::update", body)
        assert error["code"] == "deserialization_error"
        assert detail in error["message"]
        assert call(client, "state::get", {"scope": scope, "key": "k"}) == {"n": 1}


def test_non_object_input_is_refused(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        for function_id in ("state::get", "state::list", "state::list_groups"):
            error = call_error(client, function_id, None)
            assert error["code"] == "deserialization_error"
            assert "expected an object" in error["message"]
        assert "groups" in call(client, "state::list_groups", {})
