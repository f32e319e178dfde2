"""One invocation: what is called, with what, on whose behalf; and the middleware chain type."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[["Invocation"], Awaitable[Any]]
"""Runs an invocation and returns its result (``None`` = no result) or raises InvocationError."""

Starter = Callable[["Invocation"], "asyncio.Future[Any]"]
"""Begins an invocation and returns the future of its result (or of its InvocationError)."""

Middleware = Callable[["Invocation", Handler], Awaitable[Any]]
"""``async def mw(invocation, call_next)``: wraps the invocation path (see the hook spec)."""


class Invocation:
    """A call travelling the invocation path.

    ``caller_worker_id`` is set for calls a worker made; ``source`` names what started the call
    (``worker``, ``http``, ``queue``, ``cron``, ``trigger``, ``engine`` …) for middleware.
    ``traceparent``/``baggage`` are the W3C context the callee should see; middleware that opens
    a span replaces them with its own. ``attributes`` is free space for middleware.
    """

    __slots__ = ("attributes", "baggage", "caller_worker_id", "data", "function_id", "source", "traceparent")

    def __init__(
        self,
        function_id: str,
        data: Any,
        *,
        traceparent: str | None = None,
        baggage: str | None = None,
        caller_worker_id: str | None = None,
        source: str = "engine",
    ) -> None:
        self.function_id = function_id
        self.data = data
        self.traceparent = traceparent
        self.baggage = baggage
        self.caller_worker_id = caller_worker_id
        self.source = source
        self.attributes: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Invocation({self.function_id!r}, source={self.source!r})"


def chain(middlewares: list[Middleware], last: Handler) -> Handler:
    """Compose middlewares around ``last``; the first middleware is the outermost."""
    handler = last
    for middleware in reversed(middlewares):
        handler = _wrap(middleware, handler)
    return handler


def _wrap(middleware: Middleware, call_next: Handler) -> Handler:
    def wrapped(invocation: Invocation) -> Awaitable[Any]:  # no coroutine frame of its own
        return middleware(invocation, call_next)

    return wrapped
