"""Strict input parsing for engine functions, with the reference's ``deserialization_error``."""

from __future__ import annotations

from typing import Any

from .errors import InvocationError

_MISSING = object()

_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
}


class Input:
    """The ``data`` of a call to an engine function, read with typed, named checks."""

    __slots__ = ("data", "function_id")

    def __init__(self, function_id: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise deserialization_error(
                function_id, f"invalid type: expected an object, got {_json_kind(data)}"
            )
        self.function_id = function_id
        self.data = data

    def required(self, key: str, kind: type | tuple[type, ...] | None = None) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or (value is None and kind is not None):
            raise deserialization_error(self.function_id, f"missing field `{key}`")
        return self._check(key, value, kind)

    def optional(self, key: str, kind: type | tuple[type, ...] | None = None, default: Any = None) -> Any:
        value = self.data.get(key)
        if value is None:
            return default
        return self._check(key, value, kind)

    def _check(self, key: str, value: Any, kind: type | tuple[type, ...] | None) -> Any:
        if kind is None:
            return value
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        elif float in kinds and isinstance(value, int):
            ok = True
        else:
            ok = isinstance(value, kinds)
        if not ok:
            expected = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
            raise deserialization_error(
                self.function_id, f"invalid type for `{key}`: expected {expected}, got {_json_kind(value)}"
            )
        return value


def deserialization_error(function_id: str, detail: str) -> InvocationError:
    return InvocationError(
        "deserialization_error", f"Failed to deserialize input for {function_id}: {detail}"
    )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"number `{value}`"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
