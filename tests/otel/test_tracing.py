"""Invocation spans: W3C context in and out, worker spans joining engine traces, sampling."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.otel.conftest import echo
from tests.otel.helpers import RawClient, SdkWorker, otel_config, poll

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


def _flags(traceparent: str) -> str:
    return traceparent.split("-")[3]


async def test_span_continues_caller_context_and_is_passed_to_the_worker(echo_pair) -> None:
    callee, caller = echo_pair
    reply = await caller.call(
        "trace.echo", {"a": 1}, traceparent=f"00-{TRACE_ID}-{PARENT_SPAN}-01", baggage="tenant=acme"
    )
    assert reply["result"] == {"echo": {"a": 1, "_caller_worker_id": caller.worker_id}}

    sent = callee.received[-1]
    _, trace_id, engine_span, flags = sent["traceparent"].split("-")
    assert (trace_id, flags[:2]) == (TRACE_ID, "01") and engine_span != PARENT_SPAN
    assert sent["baggage"] == "tenant=acme"
    assert reply["traceparent"] == sent["traceparent"]

    tree = await caller.result("engine::traces::tree", {"trace_id": TRACE_ID})
    [root] = tree["roots"]
    assert (root["span_id"], root["parent_span_id"], root["name"]) == (engine_span, PARENT_SPAN, "trace.echo")
    attributes = dict(root["attributes"])
    assert attributes["function_id"] == "trace.echo"
    assert attributes["iii.function.kind"] == "worker"
    assert attributes["iii.worker.id"] == caller.worker_id
    assert root["service_name"] == "otel-test" and root["status"] == "unset"


async def test_unsampled_parent_is_propagated_but_not_recorded(echo_pair) -> None:
    callee, caller = echo_pair
    await caller.result("trace.echo", {}, traceparent=f"00-{TRACE_ID}-{PARENT_SPAN}-00")
    sent = callee.received[-1]["traceparent"]
    assert sent.split("-")[1] == TRACE_ID and _flags(sent) == "00"
    assert (await caller.result("engine::traces::tree", {"trace_id": TRACE_ID}))["roots"] == []


async def test_errors_mark_the_span_and_internal_spans_are_hidden(engine_factory) -> None:
    engine = engine_factory(otel_config())
    client = await RawClient.connect(engine.ws_url)
    try:
        reply = await client.call("no.such.function", {})
        assert reply["error"]["code"] == "function_not_found"
        await client.result("engine::health::check", {})
        listed = await client.result("engine::traces::list", {})
        assert [s["name"] for s in listed["spans"]] == ["no.such.function"]
        [span] = listed["spans"]
        assert span["status"] == "error" and "function_not_found" in span["status_description"]
        everything = await client.result("engine::traces::list", {"include_internal": True})
        assert "engine::health::check" in {s["name"] for s in everything["spans"]}
        assert (await client.result("engine::traces::list", {"status": "ok"}))["total"] == 0
        assert (await client.result("engine::traces::clear", {})) == {"success": True}
        assert (await client.result("engine::traces::list", {"name": "no.such"}))["spans"] == []
    finally:
        await client.close()


async def test_sampling_rules_default_and_rate_limit(engine_factory) -> None:
    sampling = {
        "default": 0.0,
        "parent_based": True,
        "rules": [
            {"operation": "kee?.never", "rate": 0.0},
            {"service": "other-*", "rate": 1.0},
            {"operation": "keep.*", "service": "otel-*", "rate": 1.0},
        ],
    }
    engine = engine_factory(otel_config(sampling=sampling))
    worker = await RawClient.connect(engine.ws_url)
    try:
        for name in ("keep.this", "drop.this", "keep.never"):
            await worker.register_function(name, echo)
        await asyncio.sleep(0.2)
        for name in ("keep.this", "drop.this", "keep.never"):
            await worker.result(name, {})
        names = {s["name"] for s in (await worker.result("engine::traces::list", {}))["spans"]}
        assert names == {"keep.this"}  # first match wins; service patterns must match too
        rules = await worker.result("engine::sampling::rules", {})
        assert rules["traces"] == {
            "default_ratio": 0.0,
            "parent_based": True,
            "rules": [
                {"operation": "kee?.never", "service": None, "rate": 0.0},
                {"operation": None, "service": "other-*", "rate": 1.0},
                {"operation": "keep.*", "service": "otel-*", "rate": 1.0},
            ],
        }
        assert rules["logs"] == {"sampling_ratio": 1.0}
        # a sampled parent wins over the rules (parent_based)
        await worker.result("drop.this", {}, traceparent=f"00-{TRACE_ID}-{PARENT_SPAN}-01")
        tree = await worker.result("engine::traces::tree", {"trace_id": TRACE_ID})
        assert [r["name"] for r in tree["roots"]] == ["drop.this"]
    finally:
        await worker.close()


async def test_rate_limit_caps_new_traces(engine_factory) -> None:
    engine = engine_factory(otel_config(sampling={"rate_limit": {"max_traces_per_second": 3}}))
    worker = await RawClient.connect(engine.ws_url)
    try:
        await worker.register_function("busy.fn", echo)
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await asyncio.gather(*(worker.result("busy.fn", {}) for _ in range(20)))
        elapsed = time.monotonic() - started
        listed = await worker.result("engine::traces::list", {"name": "busy.fn"})
        assert 1 <= listed["total"] <= 3 + 3 * elapsed + 1  # a one-second burst, then 3 per second
    finally:
        await worker.close()


WORKER_SCRIPT = """
import asyncio, time
from iii import register_worker
iii = register_worker("{url}")

async def inner(data):
    return {{"inner": True}}

async def outer(data):
    result = await iii._async_trigger({{"function_id": "sdk.inner", "payload": {{}}}})
    await iii._async_trigger({{"function_id": "engine::log::warn", "payload": {{"message": "from outer"}}}})
    return result

iii.register_function({{"id": "sdk.inner"}}, inner)
iii.register_function({{"id": "sdk.outer"}}, outer)
while True:
    time.sleep(1)
"""


async def test_sdk_worker_spans_and_logs_join_the_engine_trace(engine_factory, tmp_path) -> None:
    engine = engine_factory(otel_config())
    worker = SdkWorker(WORKER_SCRIPT.format(url=engine.ws_url), engine.ws_url, tmp_path)
    client = await RawClient.connect(engine.ws_url)
    try:

        async def registered() -> bool:
            functions = (await client.result("engine::functions::list", {}))["functions"]
            return {"sdk.inner", "sdk.outer"} <= {f["function_id"] for f in functions}

        assert await poll(registered), worker.log()
        reply = await client.call("sdk.outer", {}, traceparent=f"00-{TRACE_ID}-{PARENT_SPAN}-01")
        assert reply["result"] == {"inner": True}

        def flatten(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [n for node in nodes for n in (node, *flatten(node["children"]))]

        async def joined() -> list[dict[str, Any]]:
            spans = flatten((await client.result("engine::traces::tree", {"trace_id": TRACE_ID}))["roots"])
            return spans if len({s["service_name"] for s in spans}) == 2 and len(spans) >= 5 else []

        spans = await poll(joined, within_s=15)
        assert spans, worker.log()
        by_id = {s["span_id"]: s for s in spans}
        engine_outer = next(s for s in spans if s["name"] == "sdk.outer")
        assert engine_outer["parent_span_id"] == PARENT_SPAN
        worker_outer = next(s for s in spans if s["parent_span_id"] == engine_outer["span_id"])
        assert worker_outer["service_name"] != "otel-test"
        engine_inner = next(s for s in spans if s["name"] == "sdk.inner")
        engine_log = next(s for s in spans if s["name"] == "engine::log::warn")
        assert by_id[engine_inner["parent_span_id"]] is worker_outer
        assert by_id[engine_log["parent_span_id"]] is worker_outer

        logs = (await client.result("engine::logs::list", {"trace_id": TRACE_ID}))["logs"]
        assert [log["body"] for log in logs] == ["from outer"] and logs[0]["severity_text"] == "WARN"
    finally:
        await client.close()
        worker.stop()
