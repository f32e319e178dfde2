"""Turning an HTTP request into the ``http`` trigger's request object (ENGINE-FUNCTIONS §9.1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import StreamReader
from iii_engine import Channel

from .router import Route

JSON_MEDIA_TYPE = "application/json"


class PayloadTooLarge(Exception):
    """The request body is larger than the configured ``body_limit``."""


def request_headers(raw_headers: tuple[tuple[bytes, bytes], ...]) -> dict[str, str]:
    """Lower-case names; a repeated header keeps its last value; non-UTF-8 values become ``""``."""
    headers: dict[str, str] = {}
    for name, value in raw_headers:
        try:
            text = value.decode()
        except UnicodeDecodeError:
            text = ""
        headers[name.decode("latin-1").lower()] = text
    return headers


def query_params(query_string: str) -> dict[str, str]:
    """Percent-decoded (``+`` is a space) query parameters; a repeated key keeps its last value."""
    return dict(parse_qsl(query_string, keep_blank_values=True)) if query_string else {}


def is_json(headers: dict[str, str]) -> bool:
    return JSON_MEDIA_TYPE in headers.get("content-type", "").lower()


def parse_json_body(raw: bytes) -> Any:
    """The parsed body, or ``None`` when it is empty or not JSON."""
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def read_body(content: StreamReader, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in content.iter_any():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


async def stream_body(content: StreamReader, channel: Channel, limit: int) -> None:
    """Copy the body into ``channel`` as binary items, then end it; stops past ``limit`` bytes."""
    size = 0
    try:
        async for chunk in content.iter_any():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(size)
            await channel.put(chunk)
    finally:
        channel.finish()


def trace_context(headers: dict[str, str]) -> dict[str, str]:
    """The W3C ``traceparent``/``baggage`` a client sent, to continue its trace in the function."""
    context = {}
    if "traceparent" in headers:
        context["traceparent"] = headers["traceparent"]
        if "baggage" in headers:
            context["baggage"] = headers["baggage"]
    return context


def trigger_payload(
    route: Route, method: str, segments: list[str], query: str, headers: dict[str, str], body: Any
) -> dict[str, Any]:
    """The request object without its channel refs (what a condition function receives)."""
    return {
        "method": method,
        "path": route.api_path,
        "path_params": route.params(segments) if route.has_params else {},
        "query_params": query_params(query),
        "headers": headers,
        "body": body,
        "trigger": {"type": "http", "path": route.api_path, "method": route.method},
    }
