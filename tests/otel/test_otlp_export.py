"""OTLP export of engine spans, worker spans, logs and metrics to a real receiver (HTTP and gRPC)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import free_port
from tests.otel.helpers import RawClient, otel_config, poll, sdk_span, span_frame
from tests.otel.otlp_receiver import GrpcReceiver, HttpReceiver

WORKER_TRACE = "5b8aa5a2d2c872e8321cf37308d69df2"
WORKER_SPAN = "051581bf3cb55c13"
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}


@pytest.mark.parametrize(("protocol", "exporter"), [("http/protobuf", "both"), ("grpc", "otlp")])
async def test_spans_logs_and_metrics_reach_the_collector(
    engine_factory, protocol: str, exporter: str
) -> None:
    receiver: Any = HttpReceiver() if protocol == "http/protobuf" else GrpcReceiver()
    port = free_port()
    await receiver.start(port)
    config = otel_config(
        exporter=exporter,
        protocol=protocol,
        endpoint=f"http://127.0.0.1:{port}",
        logs_exporter="both",
        logs_flush_interval_ms=100,
        metrics_exporter="otlp",
        metrics_export_interval_ms=200,
    )
    engine = engine_factory(config, env=FAST_EXPORT)
    client = await RawClient.connect(engine.ws_url)
    try:
        assert (await client.call("export.missing", {}))["error"]["code"] == "function_not_found"
        await client.result("engine::log::error", {"message": "exported log"})
        await client.frame(
            b"OTLP", span_frame("sdk-worker", [sdk_span(WORKER_TRACE, WORKER_SPAN, None, "worker.handler")])
        )
        received = receiver.received

        async def arrived() -> bool:
            names = {(s["name"], s["service"]) for s in received.spans}
            return (
                {("export.missing", "otel-test"), ("worker.handler", "sdk-worker")} <= names
                and any(log["body"] == "exported log" for log in received.logs)
                and ("iii.invocations.error" in received.metric_names)
            )

        assert await poll(arrived, within_s=20), (received.spans, received.logs, received.metric_names)
        worker_span = next(s for s in received.spans if s["name"] == "worker.handler")
        assert (worker_span["trace_id"], worker_span["span_id"]) == (WORKER_TRACE, WORKER_SPAN)

        # exporter otlp: the span store keeps worker spans only; both: engine spans too
        listed = await client.result("engine::traces::list", {"include_internal": True})
        stored = {s["name"] for s in listed["spans"]}
        assert "worker.handler" in stored and ("export.missing" in stored) == (exporter == "both")
        # logs_exporter both: still stored in memory
        assert (await client.result("engine::logs::list", {"severity_text": "error"}))["total"] == 1
    finally:
        await client.close()
        engine.stop()
        await receiver.stop()
