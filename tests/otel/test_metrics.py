"""Metrics: engine counters, worker ``MTRC`` frames, rollups, alerts, the Prometheus endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from tests.otel.helpers import RawClient, otel_config, poll


def gauge(name: str, value: float, worker_id: str, at_ns: int) -> dict[str, Any]:
    point = {
        "attributes": [{"key": "worker.id", "value": {"stringValue": worker_id}}],
        "startTimeUnixNano": str(at_ns),
        "timeUnixNano": str(at_ns),
        "asDouble": value,
    }
    return {"name": name, "description": "", "unit": "", "gauge": {"dataPoints": [point]}}


def metrics_frame(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "node-worker"}}]
                },
                "scopeMetrics": [{"scope": {"name": "iii", "version": "0.9.0"}, "metrics": metrics}],
            }
        ]
    }


def histogram(name: str, at_ns: int) -> dict[str, Any]:
    point = {
        "attributes": [],
        "startTimeUnixNano": str(at_ns),
        "timeUnixNano": str(at_ns),
        "count": "3",
        "sum": 6.0,
        "bucketCounts": ["1", "2", "0"],
        "explicitBounds": [1.0, 5.0],
        "min": 1.0,
        "max": 3.0,
    }
    return {"name": name, "unit": "ms", "histogram": {"dataPoints": [point], "aggregationTemporality": 2}}


async def _ok(message: dict[str, Any]) -> Any:
    return {"ok": True}


async def test_worker_metrics_fill_latest_metrics_and_rollups(engine_factory) -> None:
    engine = engine_factory(otel_config())
    worker = await RawClient.connect(engine.ws_url)
    telemetry = await RawClient.connect(engine.ws_url)  # the SDKs send telemetry on a second socket
    try:
        now = time.time_ns()
        await telemetry.frame(
            b"MTRC",
            metrics_frame(
                [
                    gauge("iii.worker.memory.rss", 1000.0, worker.worker_id, now - 1_000_000_000),
                    gauge("iii.worker.memory.rss", 2048.0, worker.worker_id, now),
                    gauge("iii.worker.cpu.percent", 12.5, worker.worker_id, now),
                    gauge("orders.pending", 4.0, worker.worker_id, now),
                    histogram("orders.latency", now),
                ]
            ),
        )
        await telemetry.frame(b"MTRC", b"\xff\xfe")

        async def latest() -> Any:
            workers = (await worker.result("engine::workers::list", {"worker_id": worker.worker_id}))[
                "workers"
            ]
            return workers[0]["latest_metrics"]

        metrics = await poll(latest)
        assert metrics["memory_rss"] == 2048.0 and metrics["cpu_percent"] == 12.5
        assert metrics["timestamp_ms"] == now // 1_000_000 and "runtime" in metrics

        listed = await worker.result("engine::metrics::list", {"metric_name": "orders.pending"})
        [stored] = listed["sdk_metrics"]
        assert stored["metric_type"] == "gauge" and stored["service_name"] == "node-worker"
        assert stored["data_points"][0]["value"] == 4.0
        assert stored["data_points"][0]["attributes"] == [["worker.id", worker.worker_id]]

        start_ms, end_ms = now // 1_000_000 - 60_000, now // 1_000_000 + 60_000
        aggregated = await worker.result(
            "engine::metrics::list",
            {
                "start_time": start_ms,
                "end_time": end_ms,
                "aggregate_interval": 60,
                "metric_name": "orders.pending",
            },
        )
        assert aggregated["aggregated_metrics"][0]["count"] == 1
        assert aggregated["query"]["aggregate_interval"] == 60
        overflow = await worker.result("engine::metrics::list", {"start_time": 2**62})
        assert overflow["sdk_metrics"] == [] and "error" in overflow

        rollups = await worker.result("engine::rollups::list", {"level": 1})
        assert rollups["source"] == "on_the_fly" and rollups["level"] == 1
        rss = [r for r in rollups["rollups"] if r["name"] == "iii.worker.memory.rss"]
        assert sum(r["count"] for r in rss) == 2 and max(r["max"] for r in rss) == 2048.0
        [latency] = rollups["histogram_rollups"]
        assert latency["total_count"] == 3 and latency["bucket_counts"] == [1, 2, 0]
        bad_level = await worker.call("engine::rollups::list", {"level": 7})
        assert bad_level["error"]["code"] == "deserialization_error"
    finally:
        await telemetry.close()
        await worker.close()


async def test_metrics_list_counts_invocations_and_prometheus_serves_them(engine_factory) -> None:
    engine = engine_factory(otel_config(), wait_ports=("ENGINE_PORT", "PROM_PORT"))
    worker = await RawClient.connect(engine.ws_url)
    try:
        await worker.register_function("metrics.ok", _ok)
        await asyncio.sleep(0.2)
        for _ in range(3):
            await worker.result("metrics.ok", {})
        assert (await worker.call("metrics.missing", {}))["error"]["code"] == "function_not_found"

        listed = await worker.result("engine::metrics::list", {})
        invocations = listed["engine_metrics"]["invocations"]
        assert (
            invocations["by_function"]["metrics.ok"] == 3
            and invocations["by_function"]["metrics.missing"] == 1
        )
        assert invocations["deferred"] >= 3 and invocations["error"] >= 1
        assert invocations["total"] == invocations["success"] + invocations["error"]
        assert listed["engine_metrics"]["workers"]["active"] == 1
        assert listed["engine_metrics"]["performance"]["max_duration_ms"] > 0

        url = f"http://127.0.0.1:{engine.ports['PROM_PORT']}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
        assert 'iii_invocations_total{function_id="metrics.ok",status="success"} 3.0' in text
        assert 'iii_invocations_total{function_id="metrics.missing",status="error"} 1.0' in text
        assert 'iii_invocation_duration_seconds_count{function_id="metrics.ok"} 3.0' in text
        assert 'iii_invocations_deferred_total{function_id="metrics.ok"} 3.0' in text
        assert "iii_workers_active 1.0" in text and "iii_spans_stored" in text
    finally:
        await worker.close()


QUEUE_MODULE = {
    "class": "modules::queue::QueueModule",
    "config": {"queue_configs": {"slow": {"max_retries": 1, "concurrency": 1, "type": "standard"}}},
}


async def test_prometheus_reports_queue_depth_from_the_queue_module(engine_factory) -> None:
    config = otel_config() + "  - " + json.dumps(QUEUE_MODULE) + "\n"
    engine = engine_factory(config, wait_ports=("ENGINE_PORT", "PROM_PORT"))
    worker = await RawClient.connect(engine.ws_url)
    try:
        for index in range(3):
            await worker.send(
                {
                    "type": "invokefunction",
                    "invocation_id": f"q-{index}",
                    "function_id": "nobody.home",
                    "data": {"n": index},
                    "action": {"type": "enqueue", "queue": "slow"},
                }
            )
        url = f"http://127.0.0.1:{engine.ports['PROM_PORT']}/metrics"

        async def depth_line() -> str | None:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                text = await response.text()
            return next(
                (
                    line
                    for line in text.splitlines()
                    if line.startswith('iii_queue_depth{kind="queue",name="slow"}')
                ),
                None,
            )

        assert await poll(depth_line)
    finally:
        await worker.close()


async def test_alerts_fire_their_function_action_and_are_listed(engine_factory) -> None:
    alerts = [
        {
            "name": "errors",
            "metric": "iii.invocations.error",
            "threshold": 0,
            "operator": "greaterthan",
            "cooldown_seconds": 3600,
            "action": {"type": "function", "path": "alerts.sink"},
        },
        {"name": "quiet", "metric": "iii.workers.active", "threshold": 100, "operator": ">="},
    ]
    engine = engine_factory(otel_config(alerts=alerts))
    worker = await RawClient.connect(engine.ws_url)
    try:
        events: list[dict[str, Any]] = []

        async def sink(message: dict[str, Any]) -> None:
            events.append(message["data"])

        await worker.register_function("alerts.sink", sink)
        await asyncio.sleep(0.2)
        await worker.call("missing.fn", {})
        evaluated = await worker.result("engine::alerts::evaluate", {})
        assert evaluated["evaluated"] is True
        assert [a["name"] for a in evaluated["triggered_alerts"]] == ["errors"]
        again = await worker.result("engine::alerts::evaluate", {})
        assert again["triggered_alerts"] == []  # cooldown
        assert await poll(lambda: _value(events))
        assert events[0]["name"] == "errors" and events[0]["operator"] == ">" and events[0]["value"] >= 1
        listed = await worker.result("engine::alerts::list", {})
        states = {a["name"]: a for a in listed["alerts"]}
        assert listed["firing_count"] == 1 and states["errors"]["firing"] and not states["quiet"]["firing"]
    finally:
        await worker.close()


async def test_health_and_functions_without_stores(engine_factory) -> None:
    engine = engine_factory(otel_config(enabled=False, metrics_enabled=False))
    client = await RawClient.connect(engine.ws_url)
    try:
        health = await client.result("engine::health::check", {})
        assert health["status"] == "healthy" and health["version"] == "0.9.0"
        assert health["components"]["spans"] == {"status": "disabled", "details": None}
        assert health["components"]["metrics"] == {"status": "disabled", "details": None}
        assert health["components"]["logs"]["status"] == "healthy"
        error = (await client.call("engine::traces::list", {}))["error"]
        assert error["code"] == "memory_exporter_not_enabled"
        rollups = await client.result("engine::rollups::list", {})
        assert rollups["message"] == "Metric storage not initialized"
        alerts = await client.result("engine::alerts::list", {})
        assert alerts["message"] == "Alert manager not initialized"
        assert (await client.result("engine::alerts::evaluate", {}))["evaluated"] is False
        assert await client.result(
            "engine::baggage::get", {"key": "tenant"}, baggage="tenant=acme%20inc,a=b;p=1"
        ) == {"value": "acme inc"}
        assert await client.result("engine::baggage::get_all", {}, baggage="a=b;p=1,c=d") == {
            "baggage": {"a": "b", "c": "d"}
        }
        assert (await client.result("engine::baggage::set", {"key": "k", "value": "v"}))["success"] is True
    finally:
        await client.close()


async def _value(value: Any) -> Any:
    return value
