"""The module's engine functions: ``engine::log::*``, baggage, traces, logs, metrics, health,
sampling, alerts and rollups (ENGINE-FUNCTIONS §7)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from iii_engine import REFERENCE_VERSION, Engine, Input, Invocation, InvocationError
from iii_engine.input import deserialization_error

from .log_pipeline import LOOP_GUARD_BAGGAGE
from .log_store import SEVERITIES, LogQuery
from .metric_store import ROLLUP_LEVELS_S
from .span_store import TraceQuery
from .tracing import parse_traceparent

if TYPE_CHECKING:
    from .module import Telemetry

Handler = Callable[[Invocation], Awaitable[Any]]
U64_MAX = (1 << 64) - 1
BAGGAGE_SET_NOTE = "Baggage set in new context. For propagation, use SDK-level baggage headers."
NO_SPAN_STORE_MESSAGE = "In-memory span storage is not available. Set exporter: memory or both in config."


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_baggage(header: str | None) -> dict[str, str]:
    """A W3C ``baggage`` header as a dict (properties after ``;`` are dropped)."""
    entries: dict[str, str] = {}
    for member in (header or "").split(","):
        key, sep, value = member.split(";", 1)[0].partition("=")
        if sep and key.strip():
            entries[unquote(key.strip())] = unquote(value.strip())
    return entries


@dataclass
class _Window:
    start_ns: int | None
    end_ns: int | None


def _window(start_ms: int | None, end_ms: int | None) -> _Window | None:
    """Epoch-ms bounds in nanoseconds; ``None`` when one overflows 64 bits."""
    bounds = [None if value is None else value * 1_000_000 for value in (start_ms, end_ms)]
    if any(value is not None and not 0 <= value <= U64_MAX for value in bounds):
        return None
    return _Window(*bounds)


class ObservabilityFunctions:
    """Handlers reading and writing the module's :class:`~iii_otel.module.Telemetry`."""

    def __init__(self, engine: Engine, telemetry: Telemetry) -> None:
        self.engine = engine
        self.t = telemetry

    def register(self) -> None:
        register = self.engine.register_function
        for level in SEVERITIES:
            register(f"engine::log::{level}", self._log_writer(level), description=f"Log {level} using OTEL")
        register("engine::baggage::get", self.baggage_get, description="Get a baggage value")
        register("engine::baggage::set", self.baggage_set, description="Set a baggage value")
        register("engine::baggage::get_all", self.baggage_get_all, description="Get all baggage values")
        register("engine::traces::list", self.traces_list, description="List stored traces")
        register("engine::traces::tree", self.traces_tree, description="Get the span tree of a trace")
        register("engine::traces::clear", self.traces_clear, description="Clear stored traces")
        register("engine::metrics::list", self.metrics_list, description="List current metrics values")
        register("engine::logs::list", self.logs_list, description="List stored OTEL logs")
        register("engine::logs::clear", self.logs_clear, description="Clear stored OTEL logs")
        register(
            "engine::sampling::rules",
            self.sampling_rules,
            description="Get active sampling rules configuration",
        )
        register("engine::health::check", self.health_check, description="Check system health status")
        register("engine::alerts::list", self.alerts_list, description="List alert states")
        register("engine::alerts::evaluate", self.alerts_evaluate, description="Evaluate alert rules now")
        register("engine::rollups::list", self.rollups_list, description="Get pre-aggregated metrics rollups")

    # -- logs ----------------------------------------------------------------------------------

    def _log_writer(self, level: str) -> Handler:
        number, text = SEVERITIES[level]

        async def write(invocation: Invocation) -> None:
            data = Input(invocation.function_id, invocation.data)
            message = data.required("message", str)
            extra = data.optional("data")
            caller = parse_traceparent(invocation.traceparent)
            settings = self.t.settings
            resource = {"service.name": settings.service_name, "service.version": settings.service_version}
            if settings.service_namespace:
                resource["service.namespace"] = settings.service_namespace
            if settings.deployment_environment:
                resource["deployment.environment"] = settings.deployment_environment
            timestamp = time.time_ns()
            record = {
                "timestamp_unix_nano": timestamp,
                "observed_timestamp_unix_nano": timestamp,
                "severity_number": number,
                "severity_text": text,
                "body": message,
                "attributes": {k: v for k, v in extra.items() if k != "_caller_worker_id"}
                if isinstance(extra, dict)
                else ({} if extra is None else {"data": extra}),
                "trace_id": data.optional("trace_id", str) or (f"{caller.trace_id:032x}" if caller else None),
                "span_id": data.optional("span_id", str) or (f"{caller.span_id:016x}" if caller else None),
                "resource": resource,
                "service_name": data.optional("service_name", str, "unknown"),
                "instrumentation_scope_name": "iii",
                "instrumentation_scope_version": REFERENCE_VERSION,
            }
            guarded = LOOP_GUARD_BAGGAGE.split("=")[0] in parse_baggage(invocation.baggage)
            self.t.logs.write(record, console=True, sampled=True, guarded=guarded)
            return None

        return write

    async def logs_list(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        query = LogQuery(
            start_time=data.optional("start_time", int),
            end_time=data.optional("end_time", int),
            trace_id=data.optional("trace_id", str),
            span_id=data.optional("span_id", str),
            severity_min=data.optional("severity_min", int),
            severity_text=data.optional("severity_text", str),
            offset=max(0, data.optional("offset", int, 0)),
            limit=data.optional("limit", int),
        )
        logs, total = self.t.logs.store.query(query)
        echo = {key: value for key, value in vars(query).items() if value is not None}
        return {"logs": logs, "total": total, "query": echo, "timestamp": now_ms()}

    async def logs_clear(self, invocation: Invocation) -> dict[str, Any]:
        Input(invocation.function_id, invocation.data)
        self.t.logs.store.clear()
        return {"success": True}

    # -- baggage -------------------------------------------------------------------------------

    async def baggage_get(self, invocation: Invocation) -> dict[str, Any]:
        key = Input(invocation.function_id, invocation.data).required("key", str)
        return {"value": parse_baggage(invocation.baggage).get(key)}

    async def baggage_set(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        data.required("key", str)
        data.required("value", str)
        return {"success": True, "note": BAGGAGE_SET_NOTE}

    async def baggage_get_all(self, invocation: Invocation) -> dict[str, Any]:
        Input(invocation.function_id, invocation.data)
        return {"baggage": parse_baggage(invocation.baggage)}

    # -- traces --------------------------------------------------------------------------------

    def _span_store(self) -> Any:
        if self.t.spans is None:
            raise InvocationError("memory_exporter_not_enabled", NO_SPAN_STORE_MESSAGE)
        return self.t.spans

    async def traces_list(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        store = self._span_store()
        pairs = data.optional("attributes", list, [])
        if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
            raise deserialization_error(
                invocation.function_id, "`attributes` must be an array of [key, value] strings"
            )
        query = TraceQuery(
            trace_id=data.optional("trace_id", str),
            offset=max(0, data.optional("offset", int, 0)),
            limit=max(0, data.optional("limit", int, 100)),
            service_name=data.optional("service_name", str),
            name=data.optional("name", str),
            status=data.optional("status", str),
            min_duration_ms=data.optional("min_duration_ms", float),
            max_duration_ms=data.optional("max_duration_ms", float),
            start_time=data.optional("start_time", int),
            end_time=data.optional("end_time", int),
            sort_by=data.optional("sort_by", str, "start_time"),
            sort_order=data.optional("sort_order", str, "asc"),
            attributes=[(k, v) for k, v in pairs],
            include_internal=data.optional("include_internal", bool, False),
            search_all_spans=data.optional("search_all_spans", bool, False),
        )
        roots, total = store.list_roots(query)
        return {
            "spans": [span.to_json() for span in roots],
            "total": total,
            "offset": query.offset,
            "limit": query.limit,
        }

    async def traces_tree(self, invocation: Invocation) -> dict[str, Any]:
        trace_id = Input(invocation.function_id, invocation.data).required("trace_id", str)
        return {"roots": self._span_store().tree(trace_id.lower())}

    async def traces_clear(self, invocation: Invocation) -> dict[str, Any]:
        Input(invocation.function_id, invocation.data)
        self._span_store().clear()
        return {"success": True}

    # -- metrics -------------------------------------------------------------------------------

    async def metrics_list(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        start, end = data.optional("start_time", int), data.optional("end_time", int)
        name = data.optional("metric_name", str)
        interval = data.optional("aggregate_interval", int)
        window = _window(start, end)
        if window is None:
            return {
                "error": "start_time or end_time is out of range",
                "sdk_metrics": [],
                "aggregated_metrics": [],
            }
        store = self.t.metric_store
        result: dict[str, Any] = {
            "engine_metrics": self.t.engine_metrics.describe(),
            "sdk_metrics": store.query(window.start_ns, window.end_ns, name) if store is not None else [],
            "timestamp": now_ms(),
        }
        if store is not None and interval and window.start_ns is not None and window.end_ns is not None:
            rollups, histograms = store.rollups(window.start_ns, window.end_ns, max(1, interval), name)
            if rollups or histograms:
                result["aggregated_metrics"] = rollups + histograms
        if start is not None or end is not None or interval is not None:
            result["query"] = {
                "start_time": start,
                "end_time": end,
                "metric_name": name,
                "aggregate_interval": interval,
            }
        return result

    async def rollups_list(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        level = data.optional("level", int, 0)
        if not 0 <= level < len(ROLLUP_LEVELS_S):
            raise deserialization_error(invocation.function_id, f"`level` must be 0, 1 or 2, got {level}")
        store = self.t.metric_store
        if store is None:
            return {
                "rollups": [],
                "histogram_rollups": [],
                "message": "Metric storage not initialized",
                "timestamp": now_ms(),
            }
        end = data.optional("end_time", int, now_ms())
        start = data.optional("start_time", int, end - 3_600_000)
        name = data.optional("metric_name", str)
        window = _window(start, end)
        if window is None:
            raise deserialization_error(invocation.function_id, "start_time or end_time is out of range")
        rollups, histograms = store.rollups(
            window.start_ns or 0, window.end_ns or 0, ROLLUP_LEVELS_S[level], name
        )
        return {
            "rollups": rollups,
            "histogram_rollups": histograms,
            "level": level,
            "query": {"start_time": start, "end_time": end, "metric_name": name},
            "source": "on_the_fly",
            "timestamp": now_ms(),
        }

    # -- status --------------------------------------------------------------------------------

    async def sampling_rules(self, invocation: Invocation) -> dict[str, Any]:
        Input(invocation.function_id, invocation.data)
        return {
            "traces": self.t.sampler.describe(),
            "logs": {"sampling_ratio": self.t.settings.logs_sampling_ratio},
            "timestamp": now_ms(),
        }

    async def health_check(self, invocation: Invocation) -> dict[str, Any]:
        Input(invocation.function_id, invocation.data)
        settings = self.t.settings

        def component(enabled: bool, details: dict[str, Any]) -> dict[str, Any]:
            return (
                {"status": "healthy", "details": details}
                if enabled
                else {"status": "disabled", "details": None}
            )

        return {
            "status": "healthy",
            "components": {
                "otel": component(
                    settings.enabled,
                    {"enabled": True, "service_name": settings.service_name, "exporter": settings.exporter},
                ),
                "metrics": component(
                    self.t.metric_store is not None, {"stored_metrics": len(self.t.metric_store or ())}
                ),
                "logs": component(True, {"stored_logs": len(self.t.logs.store)}),
                "spans": component(self.t.spans is not None, {"stored_spans": len(self.t.spans or ())}),
            },
            "timestamp": now_ms(),
            "version": REFERENCE_VERSION,
        }

    async def alerts_list(self, invocation: Invocation) -> dict[str, Any]:
        Input(invocation.function_id, invocation.data)
        alerts = self.t.alerts
        if alerts is None:
            return {
                "alerts": [],
                "firing_count": 0,
                "message": "Alert manager not initialized",
                "timestamp": now_ms(),
            }
        return {"alerts": alerts.describe(), "firing_count": alerts.firing_count, "timestamp": now_ms()}

    async def alerts_evaluate(self, invocation: Invocation) -> dict[str, Any]:
        Input(invocation.function_id, invocation.data)
        alerts = self.t.alerts
        if alerts is None:
            return {"evaluated": False, "message": "Alert manager not initialized", "timestamp": now_ms()}
        return {"evaluated": True, "triggered_alerts": alerts.evaluate(), "timestamp": now_ms()}
