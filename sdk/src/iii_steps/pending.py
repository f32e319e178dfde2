"""Calls waiting for their result, with invocation ids and deadlines that cost next to nothing."""

from __future__ import annotations

import asyncio
import itertools
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import InvocationTimeout

TIMER_SLACK_S = 0.001  # event-loop timers may fire this much before their time


class InvocationIds:
    """UUID v4-shaped invocation ids: one random UUID per worker whose last 48 bits count up.

    Unique within the worker, random across workers (74 random bits), and cheap: no system
    call and no ``uuid.UUID`` object per call.
    """

    def __init__(self) -> None:
        self._prefix = str(uuid.uuid4())[:24]
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFF_FFFF_FFFF:012x}"


@dataclass(slots=True)
class _Call:
    future: asyncio.Future[Any]
    function_id: str
    seconds: float
    deadline: float


class PendingCalls:
    """Futures of calls in flight, keyed by invocation id; each fails with
    :class:`InvocationTimeout` when its deadline passes.

    One timer serves every call: it is armed for the earliest deadline it knows of and, when it
    fires, expires the calls that are due and re-arms for the next deadline. Starting a call is
    a dict insert and a comparison, not a timer of its own.
    """

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def add(self, invocation_id: str, function_id: str, seconds: float) -> asyncio.Future[Any]:
        """A new future for ``invocation_id``, failed with a timeout after ``seconds``."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        deadline = loop.time() + seconds
        self._calls[invocation_id] = _Call(future, function_id, seconds, deadline)
        if deadline < self._timer_at:
            self._arm(loop, deadline)
        return future

    def pop(self, invocation_id: Any) -> asyncio.Future[Any] | None:
        """Forget ``invocation_id``; its future, or ``None`` when it is not pending."""
        call = self._calls.pop(invocation_id, None)
        return None if call is None else call.future

    def items(self) -> Iterator[tuple[str, asyncio.Future[Any]]]:
        """``(invocation_id, future)`` of every pending call (a snapshot)."""
        return iter([(invocation_id, call.future) for invocation_id, call in self._calls.items()])

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._expire_due, loop)
        self._timer_at = when

    def _expire_due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        due = loop.time() + TIMER_SLACK_S
        next_deadline = math.inf
        for call in list(self._calls.values()):
            if call.future.done():
                continue
            if call.deadline <= due:
                call.future.set_exception(InvocationTimeout(call.function_id, call.seconds))
            else:
                next_deadline = min(next_deadline, call.deadline)
        if next_deadline < math.inf:
            self._arm(loop, next_deadline)
