"""The worker protocol's JSON codec and the message builders the engine sends."""

from __future__ import annotations

import json
from typing import Any

import orjson

TELEMETRY_PREFIXES = frozenset({b"OTLP", b"MTRC", b"LOGS"})


def encode(message: Any) -> bytes:
    """One protocol message as compact JSON bytes (UTF-8). Raises ValueError when it cannot be
    encoded (e.g. nested deeper than the JSON libraries allow)."""
    try:
        return orjson.dumps(message)
    except TypeError:  # beyond orjson: integers over 64 bits, nesting over 255, lone surrogates
        try:
            return json.dumps(message, separators=(",", ":"), default=str).encode()
        except (RecursionError, ValueError) as exc:
            raise ValueError(f"cannot encode message as JSON: {exc}") from None


def decode(frame: str | bytes) -> Any:
    """Parse a frame's JSON; tolerates the NaN/Infinity that Python's json module emits.
    Raises ValueError for anything that is not JSON."""
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:
        try:
            return json.loads(frame)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def invocation_result(
    invocation_id: str,
    function_id: str,
    *,
    result: Any = None,
    error: dict[str, Any] | None = None,
    traceparent: str | None = None,
    baggage: str | None = None,
) -> dict[str, Any]:
    """``invocationresult``: ``result`` omitted when ``None`` (no result), ``error`` when absent."""
    message: dict[str, Any] = {
        "type": "invocationresult",
        "invocation_id": invocation_id,
        "function_id": function_id,
    }
    if error is not None:
        message["error"] = error
    elif result is not None:
        message["result"] = result
    if traceparent:
        message["traceparent"] = traceparent
    if baggage:
        message["baggage"] = baggage
    return message
