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

from iii_engine import REFERENCE_VERSION, Engine, Invocation, InvocationError
from iii_engine.invocation import Handler

from .engine_metrics import EngineMetrics
from .sampling import RuleSampler
from .span_store import SpanRecord

LOG_TRIGGER_SOURCE = "log"
"""``Invocation.source`` of calls made by ``log`` triggers (their traces are loop-guarded)."""

SERVER_KIND = 1
"""``SpanKind.SERVER`` (opentelemetry-api numbering)."""


class TraceContext(NamedTuple):
    trace_id: int
    span_id: int
    sampled: bool


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
    """A W3C ``traceparent``; ``None`` when absent or malformed."""
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
    return TraceContext(trace_id, span_id, bool(flags & 1))


def format_traceparent(context: TraceContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{'01' if context.sampled else '00'}"


def function_kind(function_id: str, deferred: bool) -> str:
    if function_id.startswith("engine::"):
        return "internal"
    return "worker" if deferred else "engine"


SpanSink = Callable[[SpanRecord], None]


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
        resource: dict[str, Any],
        log_trigger_traces: RecentTraces,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.sampler = sampler
        self.sink = sink
        self.resource = resource
        self.service_name = str(resource.get("service.name", "iii"))
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
        context = TraceContext(trace_id, random.getrandbits(64) or 1, sampled)
        invocation.traceparent = format_traceparent(context)
        if invocation.source == LOG_TRIGGER_SOURCE:
            self.log_trigger_traces.add(f"{trace_id:032x}")
        token = current_span.set(context)
        started = time.perf_counter()
        start_ns = time.time_ns()
        error: InvocationError | BaseException | None = None
        try:
            return await call_next(invocation)
        except BaseException as exc:
            error = exc
            raise
        finally:
            current_span.reset(token)
            duration_s = time.perf_counter() - started
            self.metrics.record(function_id, duration_s, error is None, deferred)
            if sampled:
                self.sink(self._span(invocation, context, parent, start_ns, duration_s, deferred, error))

    def _span(
        self,
        invocation: Invocation,
        context: TraceContext,
        parent: TraceContext | None,
        start_ns: int,
        duration_s: float,
        deferred: bool,
        error: BaseException | None,
    ) -> SpanRecord:
        function_id = invocation.function_id
        attributes: dict[str, Any] = {
            "function_id": function_id,
            "iii.function.kind": function_kind(function_id, deferred),
            "iii.invocation.source": invocation.source,
        }
        if invocation.caller_worker_id:
            attributes["iii.worker.id"] = invocation.caller_worker_id
        status, description = "unset", None
        if isinstance(error, InvocationError):
            status, description = "error", f"{error.code}: {error.message}"
            attributes["error.code"] = error.code
        elif error is not None:
            status, description = "error", f"{type(error).__name__}: {error}"
        return SpanRecord(
            trace_id=f"{context.trace_id:032x}",
            span_id=f"{context.span_id:016x}",
            parent_span_id=f"{parent.span_id:016x}" if parent is not None else None,
            name=function_id,
            start_time_unix_nano=start_ns,
            end_time_unix_nano=start_ns + int(duration_s * 1e9),
            status=status,
            status_description=description,
            attributes=attributes,
            service_name=self.service_name,
            kind=SERVER_KIND,
            scope_name="iii",
            scope_version=REFERENCE_VERSION,
            flags=1,
            resource=self.resource,
        )
