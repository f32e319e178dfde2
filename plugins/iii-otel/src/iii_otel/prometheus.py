"""The Prometheus text endpoint (``GET /metrics``): engine counters, stores and queue depths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .engine_metrics import DURATION_BOUNDS_S, EngineMetrics


class EngineCollector(Collector):
    """Reads the engine counters at scrape time, so invocations pay nothing for Prometheus."""

    def __init__(self, metrics: EngineMetrics, gauges: Callable[[], dict[str, float]]) -> None:
        self.metrics = metrics
        self.gauges = gauges
        self.queue_stats: list[tuple[str, str, dict[str, float]]] = []

    def collect(self) -> Iterator[Metric]:
        invocations = CounterMetricFamily(
            "iii_invocations", "Function invocations by outcome", labels=["function_id", "status"]
        )
        deferred = CounterMetricFamily(
            "iii_invocations_deferred", "Invocations executed by workers", labels=["function_id"]
        )
        durations = HistogramMetricFamily(
            "iii_invocation_duration_seconds", "Invocation duration", labels=["function_id"], unit=""
        )
        for function_id, stats in list(self.metrics.functions.items()):
            invocations.add_metric([function_id, "success"], stats.success)
            invocations.add_metric([function_id, "error"], stats.error)
            deferred.add_metric([function_id], stats.deferred)
            cumulative, buckets = 0, []
            for bound, count in zip((*DURATION_BOUNDS_S, float("inf")), stats.buckets, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            durations.add_metric([function_id], buckets, stats.sum_s)
        yield invocations
        yield deferred
        yield durations
        yield CounterMetricFamily(
            "iii_worker_spawns", "Worker connections opened", value=self.metrics.worker_spawns
        )
        yield CounterMetricFamily(
            "iii_worker_deaths", "Worker connections closed", value=self.metrics.worker_deaths
        )
        yield GaugeMetricFamily("iii_workers_active", "Connected workers", value=self.metrics.workers_active)
        for name, value in self.gauges().items():
            yield GaugeMetricFamily(name, name.replace("_", " "), value=value)
        for key, name, description in QUEUE_GAUGES if self.queue_stats else ():
            gauge = GaugeMetricFamily(name, description, labels=["kind", "name"])
            for kind, queue, counts in self.queue_stats:
                if key in counts:
                    gauge.add_metric([kind, queue], counts[key])
            yield gauge


class PrometheusEndpoint:
    """An aiohttp server on the engine's event loop serving the registry as text."""

    def __init__(self, collector: EngineCollector, refresh: Callable[[], Awaitable[None]]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self._refresh = refresh
        self._runner: web.AppRunner | None = None

    async def _metrics(self, _request: web.Request) -> web.Response:
        await self._refresh()
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> None:
        """Bind (raises OSError when the port is taken)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


QUEUE_GAUGES = (
    ("depth", "iii_queue_depth", "Messages waiting to run"),
    ("in_flight", "iii_queue_in_flight", "Messages being handled"),
    ("dead", "iii_queue_dead_letters", "Dead-lettered messages"),
)


def parse_queue_stats(result: Any) -> list[tuple[str, str, dict[str, float]]]:
    """``queue::stats`` output (``{"queues": [{"queue"|"topic": name, "depth", "in_flight", "dead"}]}``)
    as ``(kind, name, counts)`` rows; entries of another shape are skipped."""
    rows = []
    entries = result.get("queues") if isinstance(result, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        kind = "queue" if isinstance(entry.get("queue"), str) else "topic"
        name = entry.get(kind)
        counts = {
            key: float(entry[key])
            for key, _, _ in QUEUE_GAUGES
            if isinstance(entry.get(key), int | float) and not isinstance(entry.get(key), bool)
        }
        if isinstance(name, str) and counts:
            rows.append((kind, name, counts))
    return rows
