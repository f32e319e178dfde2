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
        self.queue_depths: dict[str, float] = {}

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
        if self.queue_depths:
            depth = GaugeMetricFamily("iii_queue_depth", "Messages waiting per queue", labels=["queue"])
            for queue, value in sorted(self.queue_depths.items()):
                depth.add_metric([queue], value)
            yield depth


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


def parse_queue_depths(result: Any) -> dict[str, float]:
    """Depths from a queue module's stats function: ``{"queues": [{"name", "depth"}]}``,
    ``{queue: depth}`` or ``{queue: {"depth": n}}`` (also ``pending``/``ready`` counts)."""
    if isinstance(result, dict) and isinstance(result.get("queues"), list | dict):
        result = result["queues"]
    depths: dict[str, float] = {}
    items: Any = (
        result.items()
        if isinstance(result, dict)
        else (
            ((q.get("name") or q.get("queue"), q) for q in result if isinstance(q, dict))
            if isinstance(result, list)
            else ()
        )
    )
    for name, value in items:
        if isinstance(value, dict):
            value = next((value[k] for k in ("depth", "pending", "ready", "waiting") if k in value), None)
        if isinstance(name, str) and isinstance(value, int | float) and not isinstance(value, bool):
            depths[name] = float(value)
    return depths
