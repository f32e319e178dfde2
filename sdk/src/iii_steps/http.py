"""What an ``api`` step's handler sees of an HTTP request, and how its return value becomes a response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .channels import ChannelReader, ChannelWriter


@dataclass(slots=True)
class ApiRequest:
    """The request given to an ``api`` step (also readable as a mapping: ``req["body"]``).

    ``request_body`` streams a non-JSON body; ``response`` lets a handler stream its answer
    (``set_status``/``set_headers`` messages, then binary chunks) and return ``None``.
    """

    method: str = "GET"
    path: str = ""
    path_params: dict[str, str] = field(default_factory=dict)
    query_params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    request_body: ChannelReader | None = None
    response: ChannelWriter | None = None

    @classmethod
    def from_payload(cls, payload: Any) -> ApiRequest:
        if not isinstance(payload, dict):
            return cls(body=payload)
        return cls(
            method=payload.get("method") or "GET",
            path=payload.get("path") or "",
            path_params=payload.get("path_params") or {},
            query_params=payload.get("query_params") or {},
            headers=payload.get("headers") or {},
            body=payload.get("body"),
            request_body=payload.get("request_body")
            if isinstance(payload.get("request_body"), ChannelReader)
            else None,
            response=payload.get("response") if isinstance(payload.get("response"), ChannelWriter) else None,
        )

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


_RESPONSE_KEYS = frozenset({"status", "status_code", "statusCode", "body", "headers"})


def to_http_response(result: Any, request: ApiRequest) -> dict[str, Any] | None:
    """The engine's ``{status_code, body, headers}`` for a handler's return value.

    ``{"status": 201, "body": ..., "headers": {...}}`` (``status_code``/``statusCode`` also work);
    any other value is a 200 body. ``None`` after streaming through ``request.response`` lets the
    engine answer from the channel; ``None`` otherwise is an empty 200.
    """
    if result is None:
        if request.response is not None and request.response.used:
            return None
        return {"status_code": 200, "body": None}
    if isinstance(result, dict) and result and result.keys() <= _RESPONSE_KEYS:
        response: dict[str, Any] = {
            "status_code": result.get("status", result.get("status_code", result.get("statusCode", 200))),
            "body": result.get("body"),
        }
        if result.get("headers"):
            response["headers"] = result["headers"]
        return response
    status = getattr(result, "status", None)
    if isinstance(status, int) and hasattr(result, "body"):
        response = {"status_code": status, "body": result.body}
        if getattr(result, "headers", None):
            response["headers"] = result.headers
        return response
    return {"status_code": 200, "body": result}
