"""OTLP export (gRPC or HTTP/protobuf) of engine spans, worker spans, logs and engine metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .engine_metrics import EngineMetrics
from .settings import OtelSettings
from .span_store import SpanRecord

RESOURCE_CACHE_LIMIT = 256
_STATUS = {"ok": StatusCode.OK, "error": StatusCode.ERROR, "unset": StatusCode.UNSET}


def signal_url(endpoint: str, signal: str) -> str:
    """OTLP/HTTP: ``http://host:4318`` becomes ``http://host:4318/v1/<signal>``; a full path is kept."""
    path = urlsplit(endpoint).path.rstrip("/")
    if path.endswith(f"/v1/{signal}"):
        return endpoint
    return endpoint.rstrip("/") + f"/v1/{signal}"


def _grpc_kwargs(endpoint: str) -> dict[str, Any]:
    return {"endpoint": endpoint, "insecure": urlsplit(endpoint).scheme != "https"}


def span_exporter(settings: OtelSettings) -> SpanExporter:
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(**_grpc_kwargs(settings.endpoint))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter(endpoint=signal_url(settings.endpoint, "traces"))


def log_exporter(settings: OtelSettings) -> LogRecordExporter:
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter

        return GrpcLogExporter(**_grpc_kwargs(settings.endpoint))
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

    return HttpLogExporter(endpoint=signal_url(settings.endpoint, "logs"))


def metric_exporter(settings: OtelSettings) -> MetricExporter:
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(**_grpc_kwargs(settings.endpoint))
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter(endpoint=signal_url(settings.endpoint, "metrics"))


def _context(trace_id: str, span_id: str, flags: int | None = None, remote: bool = False) -> SpanContext:
    return SpanContext(
        int(trace_id, 16),
        int(span_id, 16),
        is_remote=remote,
        trace_flags=TraceFlags(1 if flags is None else flags & 0xFF),
    )


def readable_span(record: SpanRecord, resource: Resource) -> ReadableSpan:
    """A span record rebuilt as an SDK span so the OTLP exporter can send it."""
    kind = SpanKind(record.kind) if 0 <= record.kind <= 4 else SpanKind.INTERNAL
    return ReadableSpan(
        name=record.name,
        context=_context(record.trace_id, record.span_id, record.flags),
        parent=_context(record.trace_id, record.parent_span_id, remote=True)
        if record.parent_span_id
        else None,
        resource=resource,
        attributes=dict(record.attributes),
        events=[Event(e.name, dict(e.attributes), e.timestamp_unix_nano) for e in record.events],
        links=[
            Link(_context(link.trace_id, link.span_id), dict(link.attributes))
            for link in record.links
            if link.trace_id and link.span_id
        ],
        kind=kind,
        status=Status(_STATUS[record.status], record.status_description),
        start_time=record.start_time_unix_nano,
        end_time=record.end_time_unix_nano,
        instrumentation_scope=InstrumentationScope(record.scope_name or "unknown", record.scope_version),
    )


class SpanForwarder:
    """Batches spans (the engine's and worker-sent ones) to the collector on the SDK's export thread."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.processor = BatchSpanProcessor(exporter)
        self._resources: dict[tuple[tuple[str, Any], ...], Resource] = {}

    def _resource(self, attributes: Mapping[str, Any]) -> Resource:
        key = tuple(attributes.items())
        resource = self._resources.get(key)
        if resource is None:
            if len(self._resources) >= RESOURCE_CACHE_LIMIT:
                self._resources.clear()
            resource = self._resources[key] = Resource(dict(attributes))
        return resource

    def forward(self, records: Iterable[SpanRecord]) -> None:
        for record in records:
            self.processor.on_end(readable_span(record, self._resource(record.resource)))

    def shutdown(self) -> None:
        self.processor.shutdown()


class LogForwarder:
    """Batches stored log records to the collector (``logs_batch_size``, ``logs_flush_interval_ms``)."""

    def __init__(self, exporter: LogRecordExporter, batch_size: int, flush_interval_ms: int) -> None:
        self.processor = BatchLogRecordProcessor(
            exporter,
            schedule_delay_millis=flush_interval_ms,
            max_export_batch_size=batch_size,
            max_queue_size=max(2048, batch_size),
        )

    def forward(self, record: dict[str, Any]) -> None:
        context = None
        if record["trace_id"] and record["span_id"]:
            context = trace.set_span_in_context(
                NonRecordingSpan(_context(record["trace_id"], record["span_id"]))
            )
        severity = record["severity_number"]
        log_record = LogRecord(
            timestamp=record["timestamp_unix_nano"],
            observed_timestamp=record["observed_timestamp_unix_nano"],
            context=context,
            severity_text=record["severity_text"],
            severity_number=SeverityNumber(severity) if 1 <= severity <= 24 else SeverityNumber.UNSPECIFIED,
            body=record["body"],
            attributes=record["attributes"],
        )
        scope = InstrumentationScope(
            record.get("instrumentation_scope_name") or "iii", record.get("instrumentation_scope_version")
        )
        self.processor.on_emit(ReadWriteLogRecord(log_record, Resource(record["resource"]), scope))

    def shutdown(self) -> None:
        self.processor.shutdown()


def engine_meter_provider(
    exporter: MetricExporter, interval_ms: int, resource: Resource, metrics: EngineMetrics
) -> MeterProvider:
    """Periodically exports the engine counters (read when exported, never on the hot path)."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms)
    provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
    meter = provider.get_meter("iii")

    def per_function(field: str) -> Callable[[CallbackOptions], list[Observation]]:
        def observe(_options: CallbackOptions) -> list[Observation]:
            return [
                Observation(getattr(stats, field), {"function_id": fid})
                for fid, stats in list(metrics.functions.items())
            ]

        return observe

    meter.create_observable_counter("iii.invocations.success", [per_function("success")])
    meter.create_observable_counter("iii.invocations.error", [per_function("error")])
    meter.create_observable_counter("iii.invocations.deferred", [per_function("deferred")])
    meter.create_observable_counter("iii.invocations.duration_seconds_sum", [per_function("sum_s")], unit="s")
    meter.create_observable_counter("iii.workers.spawns", [lambda _o: [Observation(metrics.worker_spawns)]])
    meter.create_observable_counter("iii.workers.deaths", [lambda _o: [Observation(metrics.worker_deaths)]])
    meter.create_observable_gauge("iii.workers.active", [lambda _o: [Observation(metrics.workers_active)]])
    return provider
