"""HTTP responses from a function's result, from its ``response`` channel, or from the engine."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web
from iii_engine import protocol

from .headers import settable_headers

JSON_HEADERS = {"Content-Type": "application/json"}
CONDITION_NOT_MET = orjson.dumps({"error": "Request condition not met", "skipped": True})
MANAGED_BY_SERVER = frozenset({"content-type", "content-length"})


def empty(status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(status=status, headers=headers)


def too_large(headers: dict[str, str]) -> web.Response:
    """413; the connection closes since the rest of the body was not read."""
    reply = web.Response(status=413, headers=headers)
    reply.force_close()
    return reply


def json_response(status: int, body: bytes, headers: dict[str, str]) -> web.Response:
    return web.Response(status=status, body=body, headers={**headers, **JSON_HEADERS})


def error_id() -> str:
    """The low 48 bits of a nanosecond timestamp in hex: correlates a 500 with the engine log."""
    return format(time.time_ns() & 0xFFFF_FFFF_FFFF, "x")


def error_body(message: str, correlation_id: str) -> bytes:
    return orjson.dumps({"error": message, "error_id": correlation_id})


def result_status(result: dict[str, Any]) -> int:
    """``status_code`` (or the SDK model's ``statusCode``) when an integer in 100-999, else 200."""
    for key in ("status_code", "statusCode"):
        value = result.get(key)
        if type(value) is int and 100 <= value <= 999:
            return value
    return 200


def from_result(result: Any, headers: dict[str, str]) -> web.Response:
    """A function's non-null result: ``{status_code, body, headers?}`` as a JSON response."""
    if not isinstance(result, dict):
        return json_response(200, b"{}", headers)
    if result.get("headers"):
        extra = settable_headers(result["headers"])
        for name in MANAGED_BY_SERVER & extra.keys():
            del extra[name]
        headers = {**headers, **extra}
    body = result["body"] if "body" in result else {}
    return json_response(result_status(result), protocol.encode(body), headers)


class ResponseHead:
    """Status and headers collected from ``set_status``/``set_headers`` text items."""

    __slots__ = ("headers", "status")

    def __init__(self, headers: dict[str, str]) -> None:
        self.status = 200
        self.headers = headers

    def apply(self, text: str) -> None:
        """Apply one text item of the response channel; anything unrecognised is ignored."""
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "set_status":
            code = message.get("status_code")
            if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
                self.status = code
        elif kind == "set_headers":
            if isinstance(message.get("headers"), dict):
                self.headers.update(settable_headers(message["headers"]))
