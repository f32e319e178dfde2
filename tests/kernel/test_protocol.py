"""The worker protocol over a real engine, frame by frame (spec/PROTOCOL.md)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import EngineProcess
from tests.kernel.rawworker import RawWorker

Connect = Callable[..., Any]


async def _http_status(url: str) -> int:
    def get() -> int:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    return await asyncio.to_thread(get)


def _echo(message: dict[str, Any]) -> dict[str, Any]:
    return {"result": {"echo": message["data"]}}


async def test_workerregistered_is_a_fresh_uuid_per_connection(connect_worker: Connect) -> None:
    first, second = await connect_worker(), await connect_worker()
    assert uuid.UUID(first.worker_id).version == 4
    assert first.worker_id != second.worker_id


async def test_worker_to_worker_call_with_caller_id_and_trace_context(connect_worker: Connect) -> None:
    callee, caller = await connect_worker(), await connect_worker()
    await callee.register_function("math::double")
    await asyncio.sleep(0.1)
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    call = asyncio.create_task(caller.call("math::double", {"n": 21}, traceparent=traceparent, baggage="k=v"))
    received = await callee.serve_one("math::double", lambda m: {"result": m["data"]["n"] * 2})
    assert received["data"] == {"n": 21, "_caller_worker_id": caller.worker_id}
    assert received["traceparent"] == traceparent and received["baggage"] == "k=v"
    assert "action" not in received
    result = await call
    assert result["result"] == 42 and "error" not in result
    assert result["function_id"] == "math::double"
    assert result["traceparent"] == traceparent and result["baggage"] == "k=v"


async def test_non_object_data_is_passed_unchanged(connect_worker: Connect) -> None:
    callee, caller = await connect_worker(), await connect_worker()
    await callee.register_function("echo")
    await asyncio.sleep(0.1)
    for data in ([1, 2], "text", None, 7):
        call = asyncio.create_task(caller.call("echo", data))
        received = await callee.serve_one("echo", _echo)
        assert received["data"] == data
        assert (await call)["result"] == {"echo": data}


async def test_missing_data_is_accepted_as_null(connect_worker: Connect) -> None:
    callee, caller = await connect_worker(), await connect_worker()
    await callee.register_function("echo")
    await asyncio.sleep(0.1)
    invocation_id = str(uuid.uuid4())
    await caller.send({"type": "invokefunction", "invocation_id": invocation_id, "function_id": "echo"})
    received = await callee.serve_one("echo", _echo)
    assert received["data"] is None
    assert (await caller.receive("invocationresult", invocation_id=invocation_id))["result"] == {"echo": None}


async def test_error_bodies_are_relayed_unchanged_and_malformed_ones_coerced(connect_worker: Connect) -> None:
    callee, caller = await connect_worker(), await connect_worker()
    await callee.register_function("fails")
    await asyncio.sleep(0.1)
    body = {"code": "invocation_failed", "message": "out of stock", "stacktrace": "Traceback ..."}
    call = asyncio.create_task(caller.call("fails", {}))
    await callee.serve_one("fails", lambda _m: {"error": body, "result": "ignored"})
    answer = await call
    assert answer["error"] == body and "result" not in answer
    call = asyncio.create_task(caller.call("fails", {}))
    await callee.serve_one("fails", lambda _m: {"error": "just a string"})
    assert (await call)["error"] == {"code": "invocation_failed", "message": "just a string"}


async def test_no_result_omits_the_result_key(connect_worker: Connect) -> None:
    callee, caller = await connect_worker(), await connect_worker()
    await callee.register_function("nothing")
    await asyncio.sleep(0.1)
    call = asyncio.create_task(caller.call("nothing", {}))
    await callee.serve_one("nothing", lambda _m: {})
    answer = await call
    assert "result" not in answer and "error" not in answer


async def test_unknown_function(connect_worker: Connect) -> None:
    caller = await connect_worker()
    answer = await caller.call("nope::missing", {})
    assert answer["error"] == {"code": "function_not_found", "message": "Function nope::missing not found"}


async def test_void_action_invokes_and_drops_the_answer(connect_worker: Connect) -> None:
    callee, caller = await connect_worker(), await connect_worker()
    await callee.register_function("audit")
    await asyncio.sleep(0.1)
    await caller.send(
        {
            "type": "invokefunction",
            "invocation_id": str(uuid.uuid4()),
            "function_id": "audit",
            "data": {"e": 1},
            "action": {"type": "void"},
        }
    )
    received = await callee.serve_one("audit", lambda _m: {"result": "ok"})
    assert received["data"] == {"e": 1, "_caller_worker_id": caller.worker_id}
    assert uuid.UUID(received["invocation_id"])
    await caller.send(
        {"type": "invokefunction", "function_id": "missing", "data": {}, "action": {"type": "void"}}
    )
    # legacy fire-and-forget: no invocation_id, no answer
    await caller.send({"type": "invokefunction", "function_id": "audit", "data": {"e": 2}})
    await callee.serve_one("audit", lambda _m: {"result": "ok"})
    assert await caller.nothing_received("invocationresult")


async def test_enqueue_without_queue_module(connect_worker: Connect) -> None:
    caller = await connect_worker()
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    answer = await caller.call(
        "any", {"x": 1}, action={"type": "enqueue", "queue": "default"}, traceparent=traceparent
    )
    assert answer["error"] == {"code": "enqueue_error", "message": "QueueModule not loaded"}
    assert answer["traceparent"] == traceparent


async def test_ping_pong_and_tolerated_frames(connect_worker: Connect) -> None:
    worker = await connect_worker()
    for frame in (
        "",
        "   ",
        "{not json",
        "[1,2]",
        '"text"',
        "null",
        '{"no_type": 1}',
        '{"type": "RegisterFunction"}',
        '{"type": "frobnicate"}',
        '{"type": "registerfunction"}',
        '{"type": "invokefunction"}',
        '{"type": "invocationresult", "invocation_id": "not-pending"}',
        b"\x00\x01binary",
        b'{"type": "ping"}',
    ):
        await worker.send(frame)
    assert await worker.receive("pong")
    await worker.send({"type": "ping"})
    assert await worker.receive("pong")
    assert (await worker.call("engine::functions::list", {}))["result"] == {"functions": []}
    await worker.websocket.ping()


async def test_registerservice_pong_and_workerregistered_from_worker_are_ignored(
    connect_worker: Connect,
) -> None:
    worker = await connect_worker()
    await worker.send({"type": "registerservice", "id": "svc", "name": "svc"})
    await worker.send({"type": "pong"})
    await worker.send({"type": "workerregistered", "worker_id": "x"})
    await worker.send(
        {
            "type": "triggerregistrationresult",
            "id": "t",
            "trigger_type": "x",
            "function_id": "f",
            "error": {"code": "trigger_registration_failed", "message": "bad"},
        }
    )
    await worker.send({"type": "ping"})
    assert await worker.receive("pong")


async def test_telemetry_frames_are_accepted_and_never_answered(connect_worker: Connect) -> None:
    worker = await connect_worker()
    for prefix in (b"OTLP", b"MTRC", b"LOGS"):
        await worker.send(prefix + b'{"resourceSpans": []}')
        await worker.send(prefix + b"\xff\xfe not json")
    await worker.send({"type": "ping"})
    assert await worker.receive("pong")
    assert not worker.inbox


async def test_functions_list_shape_and_internal_filter(connect_worker: Connect) -> None:
    worker = await connect_worker()
    await worker.register_function(
        "orders::create",
        description="Create an order",
        metadata={"team": "checkout"},
        request_format={"type": "object"},
    )
    answer = await worker.call("engine::functions::list", {})
    assert answer["result"] == {
        "functions": [
            {
                "function_id": "orders::create",
                "description": "Create an order",
                "request_format": {"type": "object"},
                "response_format": None,
                "metadata": {"team": "checkout"},
            }
        ]
    }
    everything = (await worker.call("engine::functions::list", {"include_internal": True}))["result"][
        "functions"
    ]
    ids = {f["function_id"] for f in everything}
    assert {
        "engine::functions::list",
        "engine::workers::list",
        "engine::triggers::list",
        "engine::workers::register",
        "engine::channels::create",
        "orders::create",
    } <= ids
    bad = await worker.call("engine::functions::list", None)
    assert bad["error"]["code"] == "deserialization_error"
    assert bad["error"]["message"].startswith("Failed to deserialize input for engine::functions::list: ")


async def test_workers_list_and_register_metadata(connect_worker: Connect) -> None:
    worker, other = await connect_worker(), await connect_worker()
    await worker.register_function("a::b")
    await worker.send(
        {
            "type": "invokefunction",
            "function_id": "engine::workers::register",
            "action": {"type": "void"},
            "data": {
                "runtime": "python",
                "version": "0.9.0",
                "name": "host:1",
                "os": "Linux",
                "pid": 42,
                "telemetry": {"language": "en", "project_name": None, "framework": "x", "secret": 1},
            },
        }
    )
    await asyncio.sleep(0.2)
    answer = (await other.call("engine::workers::list", {"worker_id": worker.worker_id}))["result"]
    assert isinstance(answer["timestamp"], int)
    [described] = answer["workers"]
    assert described["id"] == worker.worker_id
    assert (
        described["name"] == "host:1" and described["runtime"] == "python" and described["version"] == "0.9.0"
    )
    assert described["os"] == "Linux" and described["pid"] == 42
    assert described["telemetry"] == {"language": "en", "project_name": None, "framework": "x"}
    assert described["ip_address"] == "127.0.0.1" and described["status"] == "connected"
    assert described["functions"] == ["a::b"] and described["function_count"] == 1
    assert described["active_invocations"] == 0 and described["latest_metrics"] is None
    assert isinstance(described["connected_at_ms"], int)
    everyone = (await other.call("engine::workers::list", {}))["result"]["workers"]
    plain = next(w for w in everyone if w["id"] == other.worker_id)
    assert plain["name"] is None and plain["runtime"] is None and "pid" not in plain
    direct = await other.call("engine::workers::register", {"runtime": "node"})
    assert direct["result"] == {"success": True}
    unknown = await other.call("engine::workers::register", {"_caller_worker_id": "nobody"})
    assert unknown["result"] == {"success": True}


async def test_channels_create_shape(connect_worker: Connect) -> None:
    worker = await connect_worker()
    refs = (await worker.call("engine::channels::create", {"buffer_size": None}))["result"]
    assert refs["writer"]["direction"] == "write" and refs["reader"]["direction"] == "read"
    assert refs["writer"]["channel_id"] == refs["reader"]["channel_id"]
    assert refs["writer"]["access_key"] == refs["reader"]["access_key"]
    assert uuid.UUID(refs["writer"]["channel_id"]) and uuid.UUID(refs["writer"]["access_key"])
    negative = await worker.call("engine::channels::create", {"buffer_size": -1})
    assert negative["error"]["code"] == "deserialization_error"


async def test_channel_round_trip_and_endpoint_errors(
    kernel_engine: EngineProcess, connect_worker: Connect
) -> None:
    worker = await connect_worker()
    refs = (await worker.call("engine::channels::create", {"buffer_size": 2}))["result"]
    base = f"{kernel_engine.ws_url}/ws/channels/{refs['writer']['channel_id']}"
    key = refs["writer"]["access_key"]
    async with connect(f"{base}?key={key}&dir=write") as writer:
        await writer.send("hello")
        await writer.send(b"\x00\x01")
        async with connect(f"{base}?key={key}&dir=read") as reader:
            assert await reader.recv() == "hello"
            assert await reader.recv() == b"\x00\x01"
            async with connect(f"{base}?key={key}&dir=read") as second_reader:
                await asyncio.wait_for(second_reader.wait_closed(), 5)
            await writer.close()
            await asyncio.wait_for(reader.wait_closed(), 5)
    http_base = f"http://127.0.0.1:{kernel_engine.port}/ws/channels/{refs['writer']['channel_id']}"
    assert await _http_status(f"{http_base}?key=wrong&dir=read") == 404
    assert await _http_status(f"{http_base}?key={key}") == 400
    assert await _http_status(f"{http_base}?key={key}&dir=sideways") == 400
    assert await _http_status(f"http://127.0.0.1:{kernel_engine.port}/elsewhere") == 404
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{kernel_engine.ws_url}/ws/channels/{uuid.uuid4()}?key={key}&dir=read")
    assert refused.value.response.status_code == 404


async def test_callee_disconnect_fails_pending_calls_promptly(connect_worker: Connect) -> None:
    callee, caller = await connect_worker(), await connect_worker()
    await callee.register_function("slow")
    await asyncio.sleep(0.1)
    call = asyncio.create_task(caller.call("slow", {}))
    await callee.receive("invokefunction", function_id="slow")
    await callee.close()
    answer = await asyncio.wait_for(call, 2)
    assert answer["error"] == {"code": "invocation_stopped", "message": "Invocation stopped"}
    assert (await caller.call("slow", {}))["error"]["code"] == "function_not_found"


async def test_caller_disconnect_drops_its_pending_result(connect_worker: Connect) -> None:
    callee, caller, observer = await connect_worker(), await connect_worker(), await connect_worker()
    await callee.register_function("slow")
    await asyncio.sleep(0.1)
    await caller.send(
        {"type": "invokefunction", "invocation_id": str(uuid.uuid4()), "function_id": "slow", "data": {}}
    )
    message = await callee.receive("invokefunction", function_id="slow")
    await caller.close()
    await asyncio.sleep(0.2)
    await callee.send(
        {
            "type": "invocationresult",
            "invocation_id": message["invocation_id"],
            "function_id": "slow",
            "result": 1,
        }
    )
    workers = (await observer.call("engine::workers::list", {}))["result"]["workers"]
    assert {w["id"] for w in workers} == {callee.worker_id, observer.worker_id}


async def test_function_cleanup_is_owner_aware(connect_worker: Connect) -> None:
    first, second, caller = await connect_worker(), await connect_worker(), await connect_worker()
    await first.register_function("shared")
    await asyncio.sleep(0.1)
    await second.register_function("shared")
    await asyncio.sleep(0.1)
    await first.close()
    await asyncio.sleep(0.2)
    call = asyncio.create_task(caller.call("shared", {"n": 1}))
    await second.serve_one("shared", _echo)
    assert (await call)["result"] == {"echo": {"n": 1, "_caller_worker_id": caller.worker_id}}
    await caller.send({"type": "unregisterfunction", "id": "shared"})
    assert (await caller.call("shared", {}))["error"]["code"] == "function_not_found"


async def test_active_invocations_counts_both_directions(connect_worker: Connect) -> None:
    callee, caller, observer = await connect_worker(), await connect_worker(), await connect_worker()
    await callee.register_function("slow")
    await asyncio.sleep(0.1)
    call = asyncio.create_task(caller.call("slow", {}))
    await callee.receive("invokefunction", function_id="slow")
    workers = {w["id"]: w for w in (await observer.call("engine::workers::list", {}))["result"]["workers"]}
    assert workers[callee.worker_id]["active_invocations"] == 1
    assert workers[caller.worker_id]["active_invocations"] == 1
    await callee.close()
    await call


async def test_custom_trigger_types_forwarded_replayed_and_cleaned_up(connect_worker: Connect) -> None:
    owner, user = await connect_worker(), await connect_worker()
    await owner.send({"type": "registertriggertype", "id": "webhook", "description": "Incoming webhooks"})
    await asyncio.sleep(0.1)
    await user.register_trigger("t1", "webhook", "gh::push", config={"path": "/gh"})
    forwarded = await owner.receive("registertrigger")
    assert forwarded == {
        "type": "registertrigger",
        "id": "t1",
        "trigger_type": "webhook",
        "function_id": "gh::push",
        "config": {"path": "/gh"},
    }
    await user.register_trigger("t2", "webhook", "gh::pr")
    assert (await owner.receive("registertrigger", id="t2"))["config"] == {}
    listed = (await user.call("engine::triggers::list", {}))["result"]["triggers"]
    assert {t["id"] for t in listed} == {"t1", "t2"}
    await user.send({"type": "unregistertrigger", "id": "t2"})
    assert await owner.receive("unregistertrigger", id="t2") == {
        "type": "unregistertrigger",
        "id": "t2",
        "trigger_type": "webhook",
    }
    # the owner goes away: the trigger stays (dormant) and is replayed to the next owner
    await owner.close()
    await asyncio.sleep(0.2)
    assert {t["id"] for t in (await user.call("engine::triggers::list", {}))["result"]["triggers"]} == {"t1"}
    new_owner = await connect_worker()
    await new_owner.send({"type": "registertriggertype", "id": "webhook", "description": ""})
    assert (await new_owner.receive("registertrigger"))["id"] == "t1"
    # the user goes away: its trigger is unregistered at the owner
    await user.close()
    assert await new_owner.receive("unregistertrigger", id="t1")


async def test_unknown_trigger_type_is_refused_and_builtin_types_protected(connect_worker: Connect) -> None:
    worker = await connect_worker()
    await worker.register_trigger("t", "nope", "f", config={})
    refused = await worker.receive("triggerregistrationresult", id="t")
    assert refused["error"]["code"] == "trigger_registration_failed"
    await worker.send(
        {"type": "registertriggertype", "id": "engine::workers-available", "description": "mine"}
    )
    await worker.register_trigger("w", "engine::workers-available", "watch")
    await asyncio.sleep(0.2)
    assert await worker.nothing_received("registertrigger", id="w")


async def test_unregistertriggertype_removes_the_workers_type(connect_worker: Connect) -> None:
    owner = await connect_worker()
    await owner.send({"type": "registertriggertype", "id": "custom", "description": ""})
    await owner.send({"type": "unregistertriggertype", "id": "custom"})
    await owner.register_trigger("t", "custom", "f")
    assert (await owner.receive("triggerregistrationresult", id="t"))["error"][
        "code"
    ] == "trigger_registration_failed"


async def test_workers_available_trigger_fires(connect_worker: Connect) -> None:
    watcher = await connect_worker()
    await watcher.register_function("watch")
    await watcher.register_trigger("w", "engine::workers-available", "watch", config={})
    await asyncio.sleep(0.1)
    other = await connect_worker()
    event = await watcher.serve_one("watch", lambda _m: {})
    assert event["data"] == {"event": "worker_connected", "worker_id": other.worker_id}
    await other.send(
        {
            "type": "invokefunction",
            "function_id": "engine::workers::register",
            "data": {},
            "action": {"type": "void"},
        }
    )
    event = await watcher.serve_one("watch", lambda _m: {})
    assert event["data"] == {"event": "worker_metadata_updated", "worker_id": other.worker_id}
    await other.close()
    event = await watcher.serve_one("watch", lambda _m: {})
    assert event["data"] == {"event": "worker_disconnected", "worker_id": other.worker_id}


@pytest.mark.timeout(60)
async def test_functions_available_trigger_fires_on_change(connect_worker: Connect) -> None:
    watcher = await connect_worker()
    await watcher.register_function("fn-watch")
    await watcher.register_trigger("f", "engine::functions-available", "fn-watch")
    await asyncio.sleep(0.1)
    await watcher.register_function("new::fn", description="fresh")
    event = await watcher.serve_one("fn-watch", lambda _m: {})
    assert event["data"]["event"] == "functions_changed"
    described = {f["function_id"]: f for f in event["data"]["functions"]}
    assert described["new::fn"] == {
        "function_id": "new::fn",
        "description": "fresh",
        "request_format": None,
        "response_format": None,
        "metadata": None,
    }
    assert "engine::functions::list" in described
    assert "_caller_worker_id" not in event["data"]


async def test_registrations_before_reading_workerregistered(kernel_engine: EngineProcess) -> None:
    async with connect(kernel_engine.ws_url) as websocket:
        worker = RawWorker(websocket)
        await worker.register_function("early")
        answer = await worker.call("engine::functions::list", {})
        assert answer["result"]["functions"][0]["function_id"] == "early"
        assert (await worker.receive("workerregistered"))["worker_id"]


async def test_messages_after_a_pending_registration_wait_their_turn(connect_worker: Connect) -> None:
    owner, user = await connect_worker(), await connect_worker()
    await owner.send({"type": "registertriggertype", "id": "hook", "description": ""})
    await asyncio.sleep(0.1)
    for index in range(20):
        await user.register_trigger(f"t{index}", "hook", "f")
    answer = await user.call("engine::triggers::list", {})
    assert [t["id"] for t in answer["result"]["triggers"]] == [f"t{index}" for index in range(20)]
    forwarded = [(await owner.receive("registertrigger"))["id"] for _ in range(20)]
    assert forwarded == [f"t{index}" for index in range(20)]
