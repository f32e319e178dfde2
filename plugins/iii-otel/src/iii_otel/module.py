"""``modules::observability::OtelModule``: wiring of tracing, stores, exporters and endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from iii_engine import (
    ConfigView,
    Engine,
    InvocationError,
    Module,
    WorkerConnection,
    hookimpl,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource

from . import otlp_json
from .alerts import AlertManager, AlertRule
from .engine_metrics import EngineMetrics
from .exporters import (
    LogForwarder,
    SpanForwarder,
    engine_meter_provider,
    log_exporter,
    metric_exporter,
    span_exporter,
)
from .functions import ObservabilityFunctions
from .log_pipeline import LOG_TRIGGER_TYPE, LogPipeline, LogTriggerType
from .log_store import LogStore
from .metric_store import MetricStore
from .prometheus import EngineCollector, PrometheusEndpoint, parse_queue_stats
from .sampling import RuleSampler
from .settings import OtelSettings, load_settings
from .span_store import EngineSpan, SpanStore
from .tracing import InvocationObserver, RecentTraces
from .worker_metrics import apply_worker_gauges, forget_stale_gauges

RETENTION_INTERVAL_S = 60.0
ALERT_INTERVAL_S = 10.0
WEBHOOK_TIMEOUT_S = 10.0
QUEUE_DEPTH_TIMEOUT_S = 2.0
SHUTDOWN_FLUSH_S = 3.0


async def flush_and_shutdown(shutdown: Callable[[], Any]) -> None:
    """Run an exporter's blocking shutdown (final flush) in a daemon thread, waiting at most
    ``SHUTDOWN_FLUSH_S``: an unreachable collector must not hold up the engine's exit."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def run() -> None:
        try:
            shutdown()
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may be gone after a slow flush
                loop.call_soon_threadsafe(done.set)

    threading.Thread(target=run, name="otel-shutdown", daemon=True).start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), SHUTDOWN_FLUSH_S)


@dataclass
class Telemetry:
    """What the module holds: settings, stores, counters, the sampler and the alert manager."""

    settings: OtelSettings
    engine_metrics: EngineMetrics
    sampler: RuleSampler
    logs: LogPipeline
    spans: SpanStore | None = None
    metric_store: MetricStore | None = None
    alerts: AlertManager | None = None


class OtelModule(Module):
    """Traces every invocation, stores and exports spans, logs and metrics, serves the query
    functions, the ``log`` trigger type and a Prometheus endpoint."""

    logger_name = "iii::modules::observability"

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        super().__init__(engine, config)
        self.settings = load_settings(config)
        self.trigger_traces = RecentTraces()
        self.meter_provider: MeterProvider | None = None
        self.span_forwarder: SpanForwarder | None = None
        self.prometheus: PrometheusEndpoint | None = None
        self.collector: EngineCollector | None = None
        self.telemetry: Telemetry | None = None
        self.observer: InvocationObserver | None = None
        self.resource_attributes: dict[str, Any] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    @hookimpl
    async def iii_module_init(self) -> None:
        settings = self.settings
        resource = self._resource()
        self.resource_attributes = dict(resource.attributes)
        metrics = EngineMetrics()
        log_forwarder = None
        if settings.logs_exporter in ("otlp", "both"):
            log_forwarder = LogForwarder(
                log_exporter(settings), settings.logs_batch_size, settings.logs_flush_interval_ms
            )
        logs = LogPipeline(
            self.engine,
            LogStore(settings.logs_max_count, settings.logs_retention_seconds),
            log_forwarder,
            settings.logs_sampling_ratio,
            self.trigger_traces,
        )
        sampler = RuleSampler(settings.sampling, settings.service_name)
        telemetry = self.telemetry = Telemetry(settings, metrics, sampler, logs)
        if settings.metrics_enabled:
            telemetry.metric_store = MetricStore(
                settings.metrics_max_count, settings.metrics_retention_seconds
            )
        if settings.alerts:
            telemetry.alerts = AlertManager(settings.alerts, self._metric_value, self._run_alert_action)
        if settings.enabled:
            telemetry.spans = SpanStore(settings.memory_max_spans)
            if settings.otlp_spans:
                self.span_forwarder = SpanForwarder(span_exporter(settings))
        if settings.enabled or settings.metrics_enabled:
            self.observer = InvocationObserver(
                self.engine,
                metrics,
                sampler if settings.enabled else None,
                self._record_span,
                settings.service_name,
                self.trigger_traces,
            )
        if settings.metrics_enabled and settings.metrics_exporter in ("otlp", "both"):
            self.meter_provider = engine_meter_provider(
                metric_exporter(settings), settings.metrics_export_interval_ms, resource, metrics
            )
        if settings.metrics_enabled and settings.prometheus_enabled:
            await self._start_prometheus(metrics)
        self.log.info(
            "OpenTelemetry initialized" if settings.enabled else "OpenTelemetry is disabled",
            exporter=settings.exporter,
            service_name=settings.service_name,
            sampling_ratio=settings.sampling.default_ratio,
        )

    def _record_span(self, span: EngineSpan) -> None:
        """Where sampled engine spans go: the memory store and/or the OTLP exporter."""
        assert self.telemetry is not None and self.telemetry.spans is not None
        if self.settings.memory_spans:
            self.telemetry.spans.add(span)
        if self.span_forwarder is not None:
            self.span_forwarder.forward((span.to_record(self.resource_attributes),))

    def _resource(self) -> Resource:
        settings = self.settings
        attributes: dict[str, Any] = {
            "service.name": settings.service_name,
            "service.version": settings.service_version,
        }
        if settings.service_namespace:
            attributes["service.namespace"] = settings.service_namespace
        if settings.deployment_environment:
            attributes["deployment.environment"] = settings.deployment_environment
        return Resource.create(attributes)

    async def _start_prometheus(self, metrics: EngineMetrics) -> None:
        settings = self.settings
        self.collector = EngineCollector(metrics, self._store_gauges)
        endpoint = PrometheusEndpoint(self.collector, self._refresh_queue_depths)
        try:
            await endpoint.start(settings.prometheus_host, settings.prometheus_port)
        except OSError as exc:
            where = f"{settings.prometheus_host}:{settings.prometheus_port}"
            if settings.prometheus_port_explicit:
                raise OSError(f"cannot serve Prometheus metrics on {where}: {exc}") from None
            self.log.warning("Prometheus endpoint disabled: port in use (set prometheus_port)", address=where)
            return
        self.prometheus = endpoint
        self.log.info(
            f"Prometheus metrics on http://{settings.prometheus_host}:{settings.prometheus_port}/metrics"
        )

    @hookimpl
    def iii_module_register(self) -> None:
        assert self.telemetry is not None
        ObservabilityFunctions(self.engine, self.telemetry).register()
        self.engine.register_trigger_type(
            LOG_TRIGGER_TYPE, "Fires for every stored log record", LogTriggerType()
        )

    @hookimpl
    def iii_module_start(self) -> None:
        self.engine.spawn(self._prune_periodically(), name="otel-retention")
        if self.telemetry is not None and self.telemetry.alerts is not None:
            self.engine.spawn(self._evaluate_alerts_periodically(), name="otel-alerts")

    @hookimpl
    def iii_invocation_middleware(self) -> Any:
        return self.observer.middleware() if self.observer is not None else None

    @hookimpl
    async def iii_module_stop(self) -> None:
        if self.prometheus is not None:
            await self.prometheus.stop()
        flushers = [p for p in (self.span_forwarder, self.meter_provider) if p is not None]
        if self.telemetry is not None and self.telemetry.logs.forwarder is not None:
            flushers.append(self.telemetry.logs.forwarder)
        await asyncio.gather(*(flush_and_shutdown(flusher.shutdown) for flusher in flushers))

    # -- background work -----------------------------------------------------------------------

    async def _prune_periodically(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_INTERVAL_S)
            self.prune()

    def prune(self) -> None:
        """Apply the log and metric retention limits now; forget worker gauges gone stale."""
        assert self.telemetry is not None
        now = time.time_ns()
        self.telemetry.logs.store.prune(now)
        if self.telemetry.metric_store is not None:
            self.telemetry.metric_store.prune(now)
        forget_stale_gauges(self.engine, now // 1_000_000)

    async def _evaluate_alerts_periodically(self) -> None:
        assert self.telemetry is not None and self.telemetry.alerts is not None
        while True:
            await asyncio.sleep(ALERT_INTERVAL_S)
            self.telemetry.alerts.evaluate()

    def _metric_value(self, name: str, window_seconds: int) -> float | None:
        assert self.telemetry is not None
        value = self.telemetry.engine_metrics.counter(name)
        if value is None and self.telemetry.metric_store is not None:
            value = self.telemetry.metric_store.latest_value(name, window_seconds)
        return value

    def _run_alert_action(self, rule: AlertRule, event: dict[str, Any]) -> None:
        action = rule.action
        if action["type"] == "webhook":
            self.engine.spawn(self._post_webhook(action["url"], event), name="alert-webhook")
        elif action["type"] == "function":
            self.engine.invoke_void(action["path"], event, source="alert")
        else:
            self.log.warning(f"Alert '{rule.name}' firing", **event)

    async def _post_webhook(self, url: str, event: dict[str, Any]) -> None:
        try:
            timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json=event) as response,
            ):
                if response.status >= 400:
                    self.log.warning("alert webhook refused", url=url, status=response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.log.warning("alert webhook failed", url=url, error=str(exc))

    # -- Prometheus ----------------------------------------------------------------------------

    def _store_gauges(self) -> dict[str, float]:
        assert self.telemetry is not None
        gauges = {"iii_logs_stored": float(len(self.telemetry.logs.store))}
        if self.telemetry.spans is not None:
            gauges["iii_spans_stored"] = float(len(self.telemetry.spans))
        if self.telemetry.metric_store is not None:
            gauges["iii_sdk_metrics_stored"] = float(len(self.telemetry.metric_store))
        return gauges

    async def _refresh_queue_depths(self) -> None:
        """Ask the queue module for its depths (``queue_depth_function``, when registered)."""
        function_id = self.settings.queue_depth_function
        if self.collector is None or function_id is None or function_id not in self.engine.functions:
            return
        try:
            result = await asyncio.wait_for(
                self.engine.invoke(function_id, {}, source="metrics"), QUEUE_DEPTH_TIMEOUT_S
            )
        except (InvocationError, TimeoutError) as exc:
            self.collector.queue_stats = []
            self.log.debug("queue depth unavailable", function=function_id, error=str(exc))
            return
        self.collector.queue_stats = parse_queue_stats(result)

    # -- workers and telemetry frames --------------------------------------------------------------

    def _count_workers(self) -> None:
        assert self.telemetry is not None
        self.telemetry.engine_metrics.workers_active = len(self.engine.workers)

    @hookimpl
    def iii_worker_connected(self) -> None:
        assert self.telemetry is not None
        self.telemetry.engine_metrics.worker_spawns += 1
        self._count_workers()

    @hookimpl
    def iii_worker_disconnected(self) -> None:
        assert self.telemetry is not None
        self.telemetry.engine_metrics.worker_deaths += 1
        self._count_workers()

    @hookimpl
    def iii_telemetry_frame(self, worker: WorkerConnection, kind: str, payload: bytes) -> None:
        telemetry = self.telemetry
        assert telemetry is not None
        try:
            document = orjson.loads(payload)
            if kind == "OTLP":
                spans = otlp_json.spans(document)
                if telemetry.spans is not None:
                    telemetry.spans.extend(spans)
                if self.span_forwarder is not None:
                    self.span_forwarder.forward(spans)
            elif kind == "LOGS":
                for record in otlp_json.logs(document):
                    telemetry.logs.write(record, console=self.settings.logs_console_output)
            elif kind == "MTRC" and telemetry.metric_store is not None:
                metrics = otlp_json.metrics(document)
                telemetry.metric_store.extend(metrics)
                apply_worker_gauges(self.engine, worker, metrics)
        except (orjson.JSONDecodeError, otlp_json.FrameError, ValueError, TypeError, KeyError) as exc:
            self.log.warning("telemetry frame ignored", kind=kind, worker_id=worker.id, error=str(exc))
