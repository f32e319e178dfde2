"""The invocation middleware: one span per function call, W3C context in and out, engine counters."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from iii_engine import Engine, Invocation, InvocationError
from iii_engine.invocation import Handler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .engine_metrics import EngineMetrics

LOG_TRIGGER_SOURCE = "log"
"""``Invocation.source`` of calls made by ``log`` triggers (their traces are loop-guarded)."""

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)


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


def parse_traceparent(value: str | None) -> SpanContext | None:
    """A W3C ``traceparent`` as a remote span context; ``None`` when absent or malformed."""
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3][:2], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=_SAMPLED if flags & 1 else _UNSAMPLED)


def format_traceparent(span_context: SpanContext) -> str:
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"


def function_kind(function_id: str, deferred: bool) -> str:
    if function_id.startswith("engine::"):
        return "internal"
    return "worker" if deferred else "engine"


class InvocationObserver:
    """Builds the middleware. With a tracer, every call gets a span whose context replaces
    ``invocation.traceparent`` (so the callee continues the trace); the counters are updated
    for every call either way."""

    def __init__(
        self,
        engine: Engine,
        metrics: EngineMetrics,
        tracer: Tracer | None,
        log_trigger_traces: RecentTraces | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.tracer = tracer
        self.log_trigger_traces = log_trigger_traces

    def middleware(self) -> Any:
        return self._traced if self.tracer is not None else self._counted

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
        remote_parent = parse_traceparent(invocation.traceparent)
        parent: Context | None = (
            trace.set_span_in_context(NonRecordingSpan(remote_parent)) if remote_parent is not None else None
        )
        attributes: dict[str, Any] = {
            "function_id": function_id,
            "iii.function.kind": function_kind(function_id, deferred),
            "iii.invocation.source": invocation.source,
        }
        if invocation.caller_worker_id:
            attributes["iii.worker.id"] = invocation.caller_worker_id
        span = self.tracer.start_span(
            function_id,
            context=parent,
            kind=SpanKind.SERVER,  # type: ignore[union-attr]
            attributes=attributes,
        )
        span_context = span.get_span_context()
        invocation.traceparent = format_traceparent(span_context)
        if invocation.source == LOG_TRIGGER_SOURCE and self.log_trigger_traces is not None:
            self.log_trigger_traces.add(f"{span_context.trace_id:032x}")
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        started = time.perf_counter()
        ok = False
        try:
            result = await call_next(invocation)
            ok = True
            return result
        except InvocationError as exc:
            if span.is_recording():
                span.set_status(Status(StatusCode.ERROR, f"{exc.code}: {exc.message}"))
                span.set_attribute("error.code", exc.code)
            raise
        except BaseException as exc:
            if span.is_recording():
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            otel_context.detach(token)
            span.end()
            self.metrics.record(function_id, time.perf_counter() - started, ok, deferred)
