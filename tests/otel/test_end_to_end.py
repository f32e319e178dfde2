"""One trace across modules: an HTTP request, the queue message its handler enqueues and the
function that consumes it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.otel.helpers import RawClient, otel_config, poll

TRACE_ID = "a3ce929d0e0e47364bf92f3577b34da6"
CLIENT_SPAN = "00f067aa0ba902b7"
MODULES = [
    {"class": "modules::api::RestApiModule", "config": {"host": "127.0.0.1", "port": "{HTTP_PORT}"}},
    {
        "class": "modules::queue::QueueModule",
        "config": {"queue_configs": {"orders": {"max_retries": 1, "concurrency": 2, "type": "standard"}}},
    },
]


def config() -> str:
    extra = "".join("  - " + json.dumps(module) + "\n" for module in MODULES)
    return (otel_config() + extra).replace('"{HTTP_PORT}"', "{HTTP_PORT}")


async def test_http_request_queue_message_and_consumer_share_one_trace(engine_factory) -> None:
    engine = engine_factory(config(), wait_ports=("ENGINE_PORT", "HTTP_PORT"))
    worker = await RawClient.connect(engine.ws_url)
    consumed: list[dict[str, Any]] = []
    try:

        async def handle_http(message: dict[str, Any]) -> Any:
            order = message["data"]["body"]
            # a worker continues the trace it was given (the SDKs do this through their spans)
            reply = await worker.call(
                "e2e.consume",
                order,
                traceparent=message["traceparent"],
                action={"type": "enqueue", "queue": "orders"},
            )
            return {"status_code": 202, "body": {"receipt": reply["result"]["messageReceiptId"]}}

        async def consume(message: dict[str, Any]) -> None:
            consumed.append(message)

        await worker.register_function("e2e.http", handle_http)
        await worker.register_function("e2e.consume", consume)
        await worker.register_trigger("http", "e2e.http", {"api_path": "e2e/orders", "http_method": "POST"})
        url = f"http://127.0.0.1:{engine.ports['HTTP_PORT']}/e2e/orders"
        headers = {"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"}
        async with aiohttp.ClientSession() as session:

            async def accepted() -> bool:
                async with session.post(url, json={"sku": "tea"}, headers=headers) as response:
                    return response.status == 202

            assert await poll(accepted)
        assert await poll(lambda: _value(consumed))

        delivered = consumed[0]
        assert delivered["data"] == {"sku": "tea"} and delivered["traceparent"].split("-")[1] == TRACE_ID
        tree = await worker.result("engine::traces::tree", {"trace_id": TRACE_ID})
        [http_span] = [root for root in tree["roots"] if root["name"] == "e2e.http"]
        assert http_span["parent_span_id"] == CLIENT_SPAN
        assert dict(http_span["attributes"])["iii.invocation.source"] == "http"
        consumer = next(child for child in http_span["children"] if child["name"] == "e2e.consume")
        assert consumer["trace_id"] == TRACE_ID
        assert delivered["traceparent"].split("-")[2] == consumer["span_id"]
    finally:
        await worker.close()


STATE_MODULE = {"class": "modules::state::StateModule"}


async def test_calls_an_engine_function_makes_are_its_children(engine_factory) -> None:
    engine = engine_factory(otel_config() + "  - " + json.dumps(STATE_MODULE) + "\n")
    worker = await RawClient.connect(engine.ws_url)
    changes: list[dict[str, Any]] = []
    try:

        async def on_change(message: dict[str, Any]) -> None:
            changes.append(message)

        await worker.register_function("e2e.on_change", on_change)
        await worker.register_trigger("state", "e2e.on_change", {"scope": "carts", "key": "c1"})
        context = {"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"}
        await worker.result("state::set", {"scope": "carts", "key": "c1", "value": {"n": 1}}, **context)
        await worker.result("state::set", {"scope": "carts", "key": "c1", "value": {"n": 2}}, **context)
        assert await poll(lambda: _value(changes))

        await asyncio.sleep(0.3)  # let every state event be delivered

        tree = await worker.result("engine::traces::tree", {"trace_id": TRACE_ID})
        sets = [root for root in tree["roots"] if root["name"] == "state::set"]
        assert [s["parent_span_id"] for s in sets] == [CLIENT_SPAN, CLIENT_SPAN]
        children = [child for s in sets for child in s["children"]]
        assert {child["name"] for child in children} == {"e2e.on_change"}
        delivered_parents = {change["traceparent"].split("-")[2] for change in changes}
        assert delivered_parents == {child["span_id"] for child in children}
    finally:
        await worker.close()


async def _value(value: Any) -> Any:
    return value
