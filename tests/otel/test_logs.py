"""Logs: ``engine::log::*``, the store and its limits, worker ``LOGS`` frames, the ``log`` trigger."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.otel.helpers import RawClient, otel_config, poll

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def logs_frame(service: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeLogs": [{"scope": {"name": "iii.logger", "version": ""}, "logRecords": records}],
            }
        ]
    }


def sdk_record(body: str, severity: str, number: int, **extra: Any) -> dict[str, Any]:
    now = str(time.time_ns())
    return {
        "timeUnixNano": now,
        "observedTimeUnixNano": now,
        "severityNumber": number,
        "severityText": severity,
        "body": {"stringValue": body},
        "attributes": [
            {"key": "order_id", "value": {"stringValue": "o-1"}},
            {"key": "attempt", "value": {"intValue": "2"}},
        ],
        **extra,
    }


async def test_engine_log_functions_store_query_and_clear(engine_factory) -> None:
    engine = engine_factory(
        otel_config(service_version="1.2.3", logs_max_count=4), env={"DEPLOYMENT_ENVIRONMENT": "staging"}
    )
    client = await RawClient.connect(engine.ws_url)
    try:
        for level in ("trace", "debug", "info", "warn", "error"):
            assert (
                await client.result(
                    f"engine::log::{level}",
                    {
                        "message": f"{level} message",
                        "data": {"order": 7},
                        "service_name": "billing",
                        "trace_id": TRACE_ID,
                        "span_id": "00f067aa0ba902b7",
                    },
                )
                is None
            )
        listed = await client.result("engine::logs::list", {})
        assert listed["total"] == 4  # logs_max_count: the oldest (trace) was evicted
        assert [log["severity_text"] for log in listed["logs"]] == ["ERROR", "WARN", "INFO", "DEBUG"]
        newest = listed["logs"][0]
        assert newest["severity_number"] == 17 and newest["body"] == "error message"
        assert newest["attributes"] == {"order": 7} and newest["service_name"] == "billing"
        assert newest["trace_id"] == TRACE_ID and newest["span_id"] == "00f067aa0ba902b7"
        assert newest["resource"] == {
            "service.name": "otel-test",
            "service.version": "1.2.3",
            "deployment.environment": "staging",
        }
        assert newest["instrumentation_scope_name"] == "iii"

        warn_up = await client.result("engine::logs::list", {"severity_min": 13, "limit": 1, "offset": 1})
        assert warn_up["total"] == 2 and [log["body"] for log in warn_up["logs"]] == ["warn message"]
        assert warn_up["query"] == {"severity_min": 13, "limit": 1, "offset": 1}
        by_text = await client.result("engine::logs::list", {"severity_text": "info"})
        assert [log["body"] for log in by_text["logs"]] == ["info message"]
        assert (await client.result("engine::logs::list", {"trace_id": "f" * 32}))["total"] == 0
        assert (await client.result("engine::logs::list", {"start_time": int(time.time() * 1000) + 60_000}))[
            "total"
        ] == 0

        bad = await client.call("engine::log::info", {"data": {}})
        assert bad["error"]["code"] == "deserialization_error" and "message" in bad["error"]["message"]
        assert await client.result("engine::logs::clear", {}) == {"success": True}
        assert (await client.result("engine::logs::list", {}))["total"] == 0
    finally:
        await client.close()
    assert "error message" in engine.log()  # printed on the console at its level


async def test_logs_sampling_ratio_zero_keeps_no_engine_log(engine_factory) -> None:
    engine = engine_factory(otel_config(logs_sampling_ratio=0.0))
    client = await RawClient.connect(engine.ws_url)
    try:
        await client.result("engine::log::info", {"message": "dropped"})
        assert (await client.result("engine::logs::list", {}))["total"] == 0
    finally:
        await client.close()


async def test_worker_logs_frames_are_stored_echoed_and_fire_log_triggers(engine_factory) -> None:
    engine = engine_factory(otel_config())
    worker = await RawClient.connect(engine.ws_url)
    try:
        deliveries: list[dict[str, Any]] = []

        async def on_error(message: dict[str, Any]) -> None:
            deliveries.append(message)

        await worker.register_function("logs.on_error", on_error)
        await worker.register_trigger("log", "logs.on_error", {"level": "error"})
        await asyncio.sleep(0.2)
        await worker.frame(
            b"LOGS",
            logs_frame(
                "billing",
                [
                    sdk_record("payment failed", "ERROR", 17, traceId=TRACE_ID, spanId="00f067aa0ba902b7"),
                    sdk_record("all good", "INFO", 9),
                ],
            ),
        )
        await worker.frame(b"LOGS", b"{not json")
        await worker.frame(b"LOGS", {"resourceLogs": "wrong"})

        async def stored() -> list[dict[str, Any]]:
            return (await worker.result("engine::logs::list", {}))["logs"]

        logs = await poll(lambda: _at_least(stored, 2))
        failed = next(log for log in logs if log["body"] == "payment failed")
        assert failed["attributes"] == {"order_id": "o-1", "attempt": 2}
        assert failed["service_name"] == "billing" and failed["resource"] == {"service.name": "billing"}
        assert failed["trace_id"] == TRACE_ID and failed["instrumentation_scope_name"] == "iii.logger"

        assert await poll(lambda: _value(len(deliveries)))
        await asyncio.sleep(0.3)
        assert len(deliveries) == 1
        payload = deliveries[0]["data"]
        assert payload["body"] == "payment failed" and payload["severity_text"] == "ERROR"
        assert "iii.log_trigger=1" in deliveries[0]["baggage"]
    finally:
        await worker.close()
    log = engine.log()
    assert "payment failed" in log and "all good" in log and "telemetry frame ignored" in log


async def test_log_trigger_whose_function_logs_does_not_loop(engine_factory) -> None:
    engine = engine_factory(otel_config())
    worker = await RawClient.connect(engine.ws_url)
    try:
        calls: list[dict[str, Any]] = []

        async def noisy(message: dict[str, Any]) -> None:
            calls.append(message)
            await worker.call(
                "engine::log::info",
                {"message": "logged by the trigger"},
                baggage=message.get("baggage"),
                traceparent=message.get("traceparent"),
            )

        await worker.register_function("logs.noisy", noisy)
        await worker.register_trigger("log", "logs.noisy", {})
        refused = await worker.register_trigger("log", "logs.noisy", {"level": 5})
        await asyncio.sleep(0.2)
        await worker.result("engine::log::info", {"message": "first"})
        assert await poll(lambda: _value(calls))
        await asyncio.sleep(1.0)  # a loop would have delivered again by now
        assert len(calls) == 1
        bodies = [log["body"] for log in (await worker.result("engine::logs::list", {}))["logs"]]
        assert bodies == ["logged by the trigger", "first"]
        triggers = (await worker.result("engine::triggers::list", {}))["triggers"]
        assert refused not in {t["id"] for t in triggers}
    finally:
        await worker.close()


async def _at_least(fetch: Any, count: int) -> Any:
    items = await fetch()
    return items if len(items) >= count else None


async def _value(value: Any) -> Any:
    return value
