"""The worker client against a real kernel engine: calls, errors, timeouts, concurrency, metadata,
trace propagation, channels and custom trigger types."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from iii_steps import (
    ChannelReader,
    InvocationTimeout,
    RemoteError,
    TraceContext,
    Trigger,
    Worker,
    current_trace,
)
from iii_steps.logger import Logger
from iii_steps.tracing import set_current_trace

from tests.conftest import EngineProcess


async def test_worker_to_worker_call(kernel: EngineProcess, make_worker: Callable[..., Worker]) -> None:
    server = make_worker(kernel.ws_url, name="server")

    async def add(data: dict[str, Any]) -> dict[str, Any]:
        return {"sum": data["a"] + data["b"], "caller": data.get("_caller_worker_id")}

    def shout(data: str) -> str:  # sync handlers run in a thread
        return data.upper()

    server.register_function("math::add", add, description="Add two numbers", metadata={"team": "maths"})
    server.register_function("text::shout", shout)
    await server.start()
    client = make_worker(kernel.ws_url, name="client")
    await client.start()

    result = await client.invoke("math::add", {"a": 2, "b": 3})
    assert result == {"sum": 5, "caller": client.worker_id}
    assert await client.invoke("text::shout", "hi") == "HI"
    listed = await client.invoke("engine::functions::list", {})
    described = next(f for f in listed["functions"] if f["function_id"] == "math::add")
    assert described["description"] == "Add two numbers"
    assert described["metadata"] == {"team": "maths"}


async def test_errors_are_raised_with_their_code(
    kernel: EngineProcess, make_worker: Callable[..., Worker]
) -> None:
    server = make_worker(kernel.ws_url)

    async def fail(data: Any) -> None:
        raise ValueError("out of stock")

    async def nothing(data: Any) -> None:
        return None

    async def unserializable(data: Any) -> Any:
        return {"when": object()}

    server.register_function("orders::fail", fail)
    server.register_function("orders::nothing", nothing)
    server.register_function("orders::odd", unserializable)
    await server.start()
    client = make_worker(kernel.ws_url)
    await client.start()

    with pytest.raises(RemoteError) as failed:
        await client.invoke("orders::fail", {})
    assert failed.value.code == "invocation_failed"
    assert failed.value.message == "out of stock"
    assert "ValueError" in (failed.value.stacktrace or "")
    with pytest.raises(RemoteError) as missing:
        await client.invoke("orders::missing", {})
    assert missing.value.code == "function_not_found"
    assert await client.invoke("orders::nothing", {}) is None
    with pytest.raises(RemoteError) as odd:
        await client.invoke("orders::odd", {})
    assert odd.value.code == "invocation_failed"
    assert "not JSON serializable" in odd.value.message


async def test_timeout_and_late_result(kernel: EngineProcess, make_worker: Callable[..., Worker]) -> None:
    server = make_worker(kernel.ws_url)

    async def slow(data: Any) -> str:
        await asyncio.sleep(data)
        return "done"

    server.register_function("slow", slow)
    await server.start()
    client = make_worker(kernel.ws_url, invocation_timeout=0.2)
    await client.start()

    started = time.monotonic()
    with pytest.raises(InvocationTimeout):
        await client.invoke("slow", 1.0)
    assert time.monotonic() - started < 0.9
    assert await client.invoke("slow", 0.05, timeout=5) == "done"
    await asyncio.sleep(1.0)  # the late result of the timed-out call is dropped quietly
    assert client.connected


async def test_incoming_invocations_run_concurrently(
    kernel: EngineProcess, make_worker: Callable[..., Worker]
) -> None:
    server = make_worker(kernel.ws_url)

    async def nap(data: int) -> int:
        await asyncio.sleep(0.3)
        return data

    server.register_function("nap", nap)
    await server.start()
    client = make_worker(kernel.ws_url)
    await client.start()

    started = time.monotonic()
    results = await asyncio.gather(*(client.invoke("nap", i) for i in range(50)))
    assert results == list(range(50))
    assert time.monotonic() - started < 2.0


async def test_worker_metadata_reaches_the_engine(
    kernel: EngineProcess, make_worker: Callable[..., Worker]
) -> None:
    worker = make_worker(kernel.ws_url, name="orders-worker", project_name="orders")
    await worker.start()
    for _ in range(50):
        listed = await worker.invoke("engine::workers::list", {"worker_id": worker.worker_id})
        if listed["workers"] and listed["workers"][0]["runtime"]:
            break
        await asyncio.sleep(0.05)
    [me] = listed["workers"]
    assert me["name"] == "orders-worker"
    assert me["runtime"] == "python"
    assert me["telemetry"]["framework"] == "iii-steps"
    assert me["telemetry"]["project_name"] == "orders"
    assert me["pid"] > 0


async def test_trace_context_propagates_through_calls(
    kernel: EngineProcess, make_worker: Callable[..., Worker]
) -> None:
    inner = make_worker(kernel.ws_url)
    outer = make_worker(kernel.ws_url)

    async def inner_handler(data: Any) -> dict[str, Any]:
        trace = current_trace()
        assert trace is not None
        return {"trace_id": trace.trace_id, "span_id": trace.span_id, "baggage": trace.baggage}

    async def outer_handler(data: Any) -> dict[str, Any]:
        trace = current_trace()
        assert trace is not None
        seen = await outer.invoke("trace::inner", {})
        return {"outer_trace": trace.trace_id, "outer_span": trace.span_id, **seen}

    inner.register_function("trace::inner", inner_handler)
    outer.register_function("trace::outer", outer_handler)
    await inner.start()
    await outer.start()
    caller = make_worker(kernel.ws_url)
    await caller.start()

    root = TraceContext.new_root(baggage="tenant=acme")
    set_current_trace(root)
    seen = await caller.invoke("trace::outer", {})
    set_current_trace(None)
    assert seen["outer_trace"] == root.trace_id == seen["trace_id"]
    assert len({root.span_id, seen["outer_span"], seen["span_id"]}) == 3
    assert seen["baggage"] == "tenant=acme"


async def test_data_channel_between_workers(
    kernel: EngineProcess, make_worker: Callable[..., Worker]
) -> None:
    consumer = make_worker(kernel.ws_url)

    async def consume(data: dict[str, Any]) -> dict[str, Any]:
        reader = data["input"]
        assert isinstance(reader, ChannelReader)
        content = await reader.read_all()
        return {"size": len(content), "head": content[:5].decode()}

    consumer.register_function("blob::consume", consume)
    await consumer.start()
    producer = make_worker(kernel.ws_url)
    await producer.start()

    writer, reader = await producer.create_channel()
    pending = asyncio.create_task(producer.invoke("blob::consume", {"input": reader.ref}))
    payload = b"hello" + bytes(200_000)
    async with writer:
        await writer.write(payload)
    assert await pending == {"size": len(payload), "head": "hello"}


async def test_custom_trigger_type_owner_hears_triggers(
    kernel: EngineProcess, make_worker: Callable[..., Worker]
) -> None:
    registered: list[Trigger] = []
    removed: list[str] = []

    class Webhooks:
        async def register_trigger(self, trigger: Trigger) -> None:
            if trigger.config.get("path") == "/bad":
                raise ValueError("bad path")
            registered.append(trigger)

        async def unregister_trigger(self, trigger: Trigger) -> None:
            removed.append(trigger.id)

    owner = make_worker(kernel.ws_url)
    owner.register_trigger_type("webhook", "Incoming webhooks", Webhooks())
    await owner.start()
    user = make_worker(kernel.ws_url)
    user.register_function("github::push", lambda data: data)
    trigger_id = user.register_trigger("webhook", "github::push", {"path": "/gh"})
    user.register_trigger("webhook", "github::push", {"path": "/bad"})
    await user.start()

    for _ in range(100):
        if registered:
            break
        await asyncio.sleep(0.02)
    assert [(t.id, t.function_id, t.config) for t in registered] == [
        (trigger_id, "github::push", {"path": "/gh"})
    ]
    user.unregister_trigger(trigger_id)
    for _ in range(100):
        if removed:
            break
        await asyncio.sleep(0.02)
    assert removed == [trigger_id]


async def test_logger_falls_back_to_local_logging(
    kernel: EngineProcess, make_worker: Callable[..., Worker], caplog: pytest.LogCaptureFixture
) -> None:
    worker = make_worker(kernel.ws_url)
    await worker.start()
    await asyncio.sleep(0.2)  # engine functions discovered: no engine::log::* in a kernel-only engine
    assert "engine::functions::list" in worker.engine_functions
    with caplog.at_level(logging.INFO, logger="iii_steps.orders"):
        Logger(worker, "orders").child(order_id="o-1").info("order created", {"total": 3})
    assert "order created" in caplog.text
    assert "o-1" in caplog.text


OTEL_CONFIG = """\
port: {ENGINE_PORT}
modules:
  - class: modules::observability::OtelModule
    config: {enabled: true, exporter: memory, prometheus_enabled: false, logs_console_output: false}
"""


async def test_logger_records_reach_the_engine_with_trace_ids(
    engine_factory: Callable[..., EngineProcess], make_worker: Callable[..., Worker]
) -> None:
    engine = engine_factory(OTEL_CONFIG)
    worker = make_worker(engine.ws_url)
    logger = Logger(worker, "billing")

    async def charge(data: Any) -> str:
        logger.child(order_id=data["order_id"]).error("payment failed", {"gateway": "acme"})
        trace = current_trace()
        assert trace is not None
        return trace.trace_id

    def refund(data: Any) -> str:  # a sync handler runs in a thread; its logs still reach the engine
        logger.warn("refund issued", {"order_id": data["order_id"]})
        trace = current_trace()
        assert trace is not None
        return trace.trace_id

    worker.register_function("billing::charge", charge)
    worker.register_function("billing::refund", refund)
    await worker.start()
    for _ in range(100):
        if "engine::log::error" in worker.engine_functions:
            break
        await asyncio.sleep(0.02)
    trace_id = await worker.invoke("billing::charge", {"order_id": "o-7"})

    async def stored() -> list[dict[str, Any]]:
        for _ in range(100):
            logs = (await worker.invoke("engine::logs::list", {"trace_id": trace_id}))["logs"]
            if logs:
                return logs
            await asyncio.sleep(0.05)
        raise AssertionError("the log record never reached the engine")

    [record] = await stored()
    assert record["body"] == "payment failed"
    assert record["severity_text"] == "ERROR"
    assert record["service_name"] == "billing"
    assert record["attributes"]["order_id"] == "o-7"
    assert record["attributes"]["gateway"] == "acme"
    trace_id = await worker.invoke("billing::refund", {"order_id": "o-8"})
    [record] = await stored()
    assert (record["body"], record["severity_text"]) == ("refund issued", "WARN")


async def test_registrations_changed_while_connecting_are_caught_up(
    kernel: EngineProcess, make_worker: Callable[..., Worker]
) -> None:
    worker = make_worker(kernel.ws_url)
    for index in range(300):
        worker.register_function(f"early::{index}", lambda data: data)
    await worker.start(wait=False)
    for index in range(300):  # interleaved with the registration burst on the new socket
        worker.register_function(f"late::{index}", lambda data: data)
        if index % 3 == 0:
            worker.unregister_function(f"early::{index}")
        await asyncio.sleep(0)
    await worker.wait_connected()
    await asyncio.sleep(0.2)
    listed = await worker.invoke("engine::functions::list", {})
    ids = {f["function_id"] for f in listed["functions"]}
    expected = {f"late::{i}" for i in range(300)} | {f"early::{i}" for i in range(300) if i % 3}
    assert ids == expected
