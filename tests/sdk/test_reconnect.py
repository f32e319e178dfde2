"""Reconnection: after the engine goes away — including clean closes 1000/1001 on shutdown — the
worker reconnects with back-off and registers everything again, with the same trigger ids."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from iii_steps import RemoteError, Worker
from websockets.asyncio.server import ServerConnection, serve

from tests.conftest import EngineProcess
from tests.sdk.conftest import KERNEL_CONFIG


async def _wait_for(predicate: Callable[[], Any], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_reregisters_everything_after_engine_restart(
    engine_factory: Callable[..., EngineProcess], make_worker: Callable[..., Worker]
) -> None:
    first = engine_factory(KERNEL_CONFIG, name="first")

    async def echo(data: Any) -> Any:
        return data

    worker = make_worker(first.ws_url)
    worker.register_function("echo::it", echo)
    trigger_id = worker.register_trigger("engine::workers-available", "echo::it", {})
    await worker.start()
    first_id = worker.worker_id
    assert await worker.invoke("echo::it", {"n": 1}) == {"n": 1, "_caller_worker_id": first_id}

    assert await asyncio.to_thread(first.stop) == 0  # graceful shutdown: clean close
    await _wait_for(lambda: not worker.connected)
    second = engine_factory(KERNEL_CONFIG, name="second", ports={"ENGINE_PORT": first.port})
    await worker.wait_connected(15)

    assert worker.worker_id != first_id
    assert worker.connections == 2
    functions = await worker.invoke("engine::functions::list", {})
    assert "echo::it" in {f["function_id"] for f in functions["functions"]}
    triggers = await worker.invoke("engine::triggers::list", {})
    assert [(t["id"], t["function_id"]) for t in triggers["triggers"]] == [(trigger_id, "echo::it")]
    caller = make_worker(second.ws_url)
    await caller.start()
    assert await caller.invoke("echo::it", {"n": 2}) == {"n": 2, "_caller_worker_id": caller.worker_id}


async def test_calls_made_while_disconnected_are_sent_on_reconnect(
    engine_factory: Callable[..., EngineProcess], make_worker: Callable[..., Worker]
) -> None:
    first = engine_factory(KERNEL_CONFIG, name="first")
    worker = make_worker(first.ws_url)
    await worker.start()
    await asyncio.to_thread(first.stop)
    await _wait_for(lambda: not worker.connected)

    pending = asyncio.create_task(worker.invoke("engine::workers::list", {}, timeout=15))
    await asyncio.sleep(0.3)
    assert not pending.done()
    engine_factory(KERNEL_CONFIG, name="second", ports={"ENGINE_PORT": first.port})
    listed = await pending
    assert worker.worker_id in {w["id"] for w in listed["workers"]}


async def test_in_flight_calls_fail_when_the_connection_drops(
    engine_factory: Callable[..., EngineProcess], make_worker: Callable[..., Worker]
) -> None:
    engine = engine_factory(KERNEL_CONFIG)
    server = make_worker(engine.ws_url)

    async def hang(data: Any) -> None:
        await asyncio.sleep(30)

    server.register_function("hang", hang)
    await server.start()
    client = make_worker(engine.ws_url)
    await client.start()
    pending = asyncio.create_task(client.invoke("hang", {}))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(engine.stop)
    try:
        await asyncio.wait_for(pending, 5)
    except RemoteError as exc:
        assert exc.code == "invocation_stopped"
    else:
        raise AssertionError("the in-flight call should have failed")


async def test_initial_connection_retries_until_the_engine_is_up(
    engine_factory: Callable[..., EngineProcess], make_worker: Callable[..., Worker]
) -> None:
    from tests.conftest import free_port

    port = free_port()
    worker = make_worker(f"ws://127.0.0.1:{port}")
    worker.register_function("late::fn", lambda data: "ok")
    await worker.start(wait=False)
    await asyncio.sleep(0.3)
    assert worker.state == "connecting" or worker.state == "reconnecting"
    engine_factory(KERNEL_CONFIG, ports={"ENGINE_PORT": port})
    await worker.wait_connected(15)
    assert await worker.invoke("late::fn", {}) == "ok"


@pytest.mark.parametrize("close_code", [1000, 1001])
async def test_clean_close_reconnects_and_resends_the_same_registrations(
    close_code: int, make_worker: Callable[..., Worker]
) -> None:
    """A stand-in engine that closes cleanly after the registrations: the worker comes back and
    sends exactly the same registrations (same trigger ids), in the protocol's order."""
    sessions: list[list[dict[str, Any]]] = []

    async def engine(connection: ServerConnection) -> None:
        received: list[dict[str, Any]] = []
        sessions.append(received)
        await connection.send(
            orjson.dumps({"type": "workerregistered", "worker_id": str(uuid.uuid4())}).decode()
        )
        async for frame in connection:
            message = orjson.loads(frame)
            received.append(message)
            if message.get("function_id") == "engine::workers::register" and len(sessions) < 3:
                await connection.close(close_code)

    class Owner:
        async def register_trigger(self, trigger: Any) -> None: ...

        async def unregister_trigger(self, trigger: Any) -> None: ...

    async with serve(engine, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        worker = make_worker(f"ws://127.0.0.1:{port}")
        worker.register_trigger_type("webhook", "hooks", Owner())
        worker.register_function("a::b", lambda data: data)
        worker.register_trigger("webhook", "a::b", {"path": "/x"})
        await worker.start(wait=False)
        await _wait_for(lambda: len(sessions) == 3 and worker.connected)
        assert worker.last_close_code == close_code

    kinds = [
        [m["type"] for m in session if m.get("function_id") != "engine::functions::list"]
        for session in sessions
    ]
    expected = ["registertriggertype", "registerfunction", "registertrigger", "invokefunction"]
    assert kinds[0] == kinds[1] == expected
    first, second = ([m for m in s if m["type"] == "registertrigger"] for s in sessions[:2])
    assert first == second and len(first) == 1
    metadata = sessions[1][3]
    assert metadata["function_id"] == "engine::workers::register" and metadata["action"] == {"type": "void"}
