"""The protocol codec (iii_engine.protocol): every valid message round-trips."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iii_engine import protocol

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # including lone surrogates
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)
message_types = st.sampled_from(
    [
        "registerfunction",
        "invokefunction",
        "invocationresult",
        "registertrigger",
        "registertriggertype",
        "ping",
    ]
)
messages = st.builds(
    lambda kind, fields: {**fields, "type": kind}, message_types, st.dictionaries(st.text(), json_values)
)


@given(messages)
def test_every_message_round_trips(message: dict[str, Any]) -> None:
    encoded = protocol.encode(message)
    assert isinstance(encoded, bytes)
    assert protocol.decode(encoded) == message
    assert protocol.decode(encoded.decode()) == message


def test_integers_beyond_64_bits_read_as_floats_like_the_reference() -> None:
    assert protocol.decode(protocol.encode({"n": 2**70})) == {"n": float(2**70)}


@given(json_values)
def test_the_engine_reads_what_pythons_json_module_writes(value: Any) -> None:
    assert protocol.decode(json.dumps(value)) == value


def test_nan_and_infinity_from_python_workers_are_accepted() -> None:
    decoded = protocol.decode('{"a": NaN, "b": Infinity, "c": -Infinity}')
    assert math.isnan(decoded["a"]) and decoded["b"] == math.inf and decoded["c"] == -math.inf


@pytest.mark.parametrize("frame", ["", "{", "[1,", b"\xff", "nul", "[" * 100_000 + "]" * 100_000])
def test_non_json_is_a_value_error(frame: str | bytes) -> None:
    with pytest.raises(ValueError):
        protocol.decode(frame)


def test_unencodable_is_a_value_error() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError):
        protocol.encode({"type": "invokefunction", "data": deep})


def test_invocation_result_omits_absent_fields() -> None:
    assert protocol.invocation_result("i", "f") == {
        "type": "invocationresult",
        "invocation_id": "i",
        "function_id": "f",
    }
    assert protocol.invocation_result("i", "f", result=0, traceparent="t") == {
        "type": "invocationresult", "invocation_id": "i", "function_id": "f", "result": 0, "traceparent": "t"
    }  # fmt: skip
    errored = protocol.invocation_result("i", "f", result=1, error={"code": "c", "message": "m"}, baggage="b")
    assert errored == {
        "type": "invocationresult", "invocation_id": "i", "function_id": "f",
        "error": {"code": "c", "message": "m"}, "baggage": "b",
    }  # fmt: skip
