"""W3C trace context (``traceparent`` / ``baggage``) carried from invocation to invocation.

Each handler runs in its own span: a child of the caller's ``traceparent`` (or the root of a new
trace). Calls the handler makes carry that span as their parent, so a request can be followed
through every step it reaches.
"""

from __future__ import annotations

import contextvars
import random
import re
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16


def _random_hex(bits: int) -> str:
    value = 0
    while value == 0:
        value = random.getrandbits(bits)
    return f"{value:0{bits // 4}x}"


@dataclass(frozen=True, slots=True)
class TraceContext:
    """One span: its trace id, its own span id, sampling flags and the W3C baggage it carries."""

    trace_id: str
    span_id: str
    flags: str = "01"
    baggage: str | None = None

    @classmethod
    def new_root(cls, baggage: str | None = None) -> TraceContext:
        """The first span of a new trace."""
        return cls(_random_hex(128), _random_hex(64), "01", baggage)

    @classmethod
    def child_of(cls, traceparent: str | None, baggage: str | None = None) -> TraceContext:
        """A new span whose parent is ``traceparent``; a new root when it is absent or invalid."""
        if traceparent:
            match = _TRACEPARENT.match(traceparent.strip().lower())
            if match and match[1] != _INVALID_TRACE_ID and match[2] != _INVALID_SPAN_ID:
                return cls(match[1], _random_hex(64), match[3], baggage)
        return cls.new_root(baggage)

    @property
    def traceparent(self) -> str:
        """This span as a ``traceparent`` header value."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


_current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "iii_steps_trace", default=None
)


def current_trace() -> TraceContext | None:
    """The span of the handler running in this task, if any."""
    return _current.get()


def set_current_trace(trace: TraceContext | None) -> contextvars.Token[TraceContext | None]:
    """Make ``trace`` the current span of this task (returns the token to reset it)."""
    return _current.set(trace)
