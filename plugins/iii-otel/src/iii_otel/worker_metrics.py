"""Worker resource gauges (``iii.worker.*`` in ``MTRC`` frames) → ``latest_metrics`` of each worker."""

from __future__ import annotations

from typing import Any

from iii_engine import Engine, WorkerConnection

GAUGE_FIELDS = {
    "iii.worker.memory.heap_used": "memory_heap_used",
    "iii.worker.memory.heap_total": "memory_heap_total",
    "iii.worker.memory.rss": "memory_rss",
    "iii.worker.memory.external": "memory_external",
    "iii.worker.cpu.percent": "cpu_percent",
    "iii.worker.cpu.user_micros": "cpu_user_micros",
    "iii.worker.cpu.system_micros": "cpu_system_micros",
    "iii.worker.event_loop.lag_ms": "event_loop_lag_ms",
    "iii.worker.uptime_seconds": "uptime_seconds",
}

GAUGE_FRESHNESS_MS = 120_000
"""``latest_metrics`` shows points from the last 2 minutes only."""


def apply_worker_gauges(engine: Engine, sender: WorkerConnection, metrics: list[dict[str, Any]]) -> None:
    """Keep the newest value of each worker gauge on the worker named by the point's ``worker.id``
    attribute (the telemetry socket is a separate connection), else on the sending connection."""
    for metric in metrics:
        field = GAUGE_FIELDS.get(metric["name"])
        if field is None:
            continue
        for point in metric["data_points"]:
            if "value" not in point:
                continue
            attributes = dict(point["attributes"])
            worker = engine.workers.get(attributes.get("worker.id", ""), sender)
            latest = worker.latest_metrics if worker.latest_metrics is not None else {}
            timestamp_ms = (point["timestamp_unix_nano"] or metric["timestamp_unix_nano"]) // 1_000_000
            if timestamp_ms < latest.get("timestamp_ms", 0):
                continue
            latest[field] = point["value"]
            latest["timestamp_ms"] = timestamp_ms
            resource = metric.get("resource", {})
            latest["runtime"] = (
                worker.metadata.get("runtime")
                or resource.get("process.runtime.name")
                or resource.get("telemetry.sdk.language", "unknown")
            )
            worker.latest_metrics = latest


def forget_stale_gauges(engine: Engine, now_ms: int) -> None:
    """Clear ``latest_metrics`` of workers whose newest gauge point is older than 2 minutes."""
    for worker in engine.workers.values():
        latest = worker.latest_metrics
        if latest is not None and now_ms - latest.get("timestamp_ms", 0) > GAUGE_FRESHNESS_MS:
            worker.latest_metrics = None
