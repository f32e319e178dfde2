"""The invocation middleware: one span per function call, W3C context in and out, engine counters.

Engine spans are recorded by a lean recorder rather than the SDK's ``Tracer`` (whose per-span
cost dominated the invocation path): the sampling decision comes from the module's SDK
``Sampler``, the span becomes a :class:`SpanRecord` for the memory store, and the OTLP exporter
receives it through the SDK's batch processor. Unsampled calls record nothing.
"""

from __future__ import annotations

import contextvars
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from iii_engine import Engine, Invocation, InvocationError
from iii_engine.invocation import Handler

from .engine_metrics import EngineMetrics
from .sampling import RuleSampler
from .span_store import EngineSpan

LOG_TRIGGER_SOURCE = "log"
"""``Invocation.source`` of calls made by ``log`` triggers (their traces are loop-guarded)."""


class TraceContext(NamedTuple):
    trace_id: int
    span_id: int
    sampled: bool


_new_tuple = tuple.__new__
"""Builds a NamedTuple from a tuple in C (its generated ``__new__`` costs more on the hot path)."""

current_span: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "iii_otel_span", default=None
)
"""The engine span of the invocation running in this task (parent of nested engine calls)."""


class RecentTraces:
    """A bounded set of trace ids (the traces that ``log`` trigger deliveries started)."""

    def __init__(self, limit: int = 4096) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, trace_id: str) -> None:
        self._ids[trace_id] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)

    def __contains__(self, trace_id: object) -> bool:
        return trace_id in self._ids


def parse_traceparent(value: str | None) -> TraceContext | None:
    """A W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``, later versions may append
    fields); ``None`` when absent or malformed."""
    if not value or len(value) < 55 or value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    if value[:2] == "ff" or (len(value) > 55 and value[55] != "-"):
        return None
    try:
        trace_id, span_id, flags = int(value[3:35], 16), int(value[36:52], 16), int(value[53:55], 16)
    except ValueError:
        return None
    if not trace_id or not span_id or not (value[3:35] + value[36:52]).isalnum():
        return None
    return _new_tuple(TraceContext, (trace_id, span_id, bool(flags & 1)))


def format_traceparent(context: TraceContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{'01' if context.sampled else '00'}"


SpanSink = Callable[[EngineSpan], None]


class InvocationObserver:
    """Builds the middleware. With a sampler, every call gets a span context that replaces
    ``invocation.traceparent`` (so the callee continues the trace), and sampled calls hand a
    finished span to ``sink``; the counters are updated for every call either way."""

    def __init__(
        self,
        engine: Engine,
        metrics: EngineMetrics,
        sampler: RuleSampler | None,
        sink: SpanSink,
        service_name: str,
        log_trigger_traces: RecentTraces,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.sampler = sampler
        self.sink = sink
        self.service_name = service_name
        self.log_trigger_traces = log_trigger_traces

    def middleware(self) -> Any:
        return self._traced if self.sampler is not None else self._counted

    def _is_deferred(self, function_id: str) -> bool:
        function = self.engine.functions.get(function_id)
        return function is not None and function.worker_id is not None

    async def _counted(self, invocation: Invocation, call_next: Handler) -> Any:
        started = time.perf_counter()
        ok = False
        try:
            result = await call_next(invocation)
            ok = True
            return result
        finally:
            function_id = invocation.function_id
            self.metrics.record(
                function_id, time.perf_counter() - started, ok, self._is_deferred(function_id)
            )

    async def _traced(self, invocation: Invocation, call_next: Handler) -> Any:
        function_id = invocation.function_id
        deferred = self._is_deferred(function_id)
        parent = parse_traceparent(invocation.traceparent) or current_span.get()
        trace_id = parent.trace_id if parent is not None else random.getrandbits(128) or 1
        sampled = self.sampler.decide(trace_id, function_id, parent.sampled if parent else None)  # type: ignore[union-attr]
        context = _new_tuple(TraceContext, (trace_id, random.getrandbits(64) or 1, sampled))
        invocation.traceparent = format_traceparent(context)
        if invocation.source == LOG_TRIGGER_SOURCE:
            self.log_trigger_traces.add(f"{trace_id:032x}")
        token = current_span.set(context)
        start_ns = time.time_ns()
        error: BaseException | None = None
        try:
            return await call_next(invocation)
        except BaseException as exc:
            error = exc
            raise
        finally:
            current_span.reset(token)
            end_ns = time.time_ns()
            self.metrics.record(function_id, (end_ns - start_ns) / 1e9, error is None, deferred)
            if sampled:
                code = description = None
                if isinstance(error, InvocationError):
                    code, description = error.code, f"{error.code}: {error.message}"
                elif error is not None:
                    description = f"{type(error).__name__}: {error}"
                parent_span_id = parent.span_id if parent is not None else 0
                fields = (
                    trace_id,
                    context.span_id,
                    parent_span_id,
                    function_id,
                    start_ns,
                    end_ns,
                    deferred,
                    invocation.source,
                    invocation.caller_worker_id,
                    code,
                    description,
                    self.service_name,
                )
                self.sink(_new_tuple(EngineSpan, fields))
