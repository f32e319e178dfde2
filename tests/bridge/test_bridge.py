"""Two real engines: B reaches A's state and streams through bridge adapters, and the bridge
client module exposes and forwards functions in both directions, across a restart of A."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import pytest
import websockets
from iii import InitOptions, register_worker
from iii.iii import III

from tests.conftest import EngineProcess

BACKEND = """
port: {ENGINE_PORT}
modules:
  - class: modules::state::StateModule
  - class: modules::stream::StreamModule
    config: {port: {STREAM_PORT}, host: 127.0.0.1}
  - class: modules::pubsub::PubSubModule
"""

BRIDGING = """
port: {ENGINE_PORT}
modules:
  - class: modules::state::StateModule
    config:
      adapter: {class: modules::state::adapters::Bridge, config: {bridge_url: "ws://127.0.0.1:{REMOTE_PORT}"}}
  - class: modules::stream::StreamModule
    config:
      port: {STREAM_PORT}
      host: 127.0.0.1
      adapter: {class: modules::stream::adapters::Bridge, config: {bridge_url: "ws://127.0.0.1:{REMOTE_PORT}"}}
  - class: modules::bridge_client::BridgeClientModule
    config:
      url: "ws://127.0.0.1:{REMOTE_PORT}"
      expose:
        - {local_function: "b.local.double", remote_function: "b.exposed.double"}
      forward:
        - {local_function: "b.forward.upper", remote_function: "a.upper", timeout_ms: 2000}
"""


def connect(engine: EngineProcess) -> III:
    return register_worker(engine.ws_url, InitOptions(invocation_timeout_ms=5000))


def call(client: III, function_id: str, payload: object, timeout_ms: int = 5000) -> object:
    return client.trigger({"function_id": function_id, "payload": payload, "timeout_ms": timeout_ms})


def eventually(check: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.fixture
def engines(engine_factory: Callable[..., EngineProcess]) -> tuple[EngineProcess, EngineProcess]:
    backend = engine_factory(BACKEND, name="backend", wait_ports=("ENGINE_PORT", "STREAM_PORT"))
    config = BRIDGING.replace("{REMOTE_PORT}", str(backend.port))
    bridging = engine_factory(config, name="bridging", wait_ports=("ENGINE_PORT", "STREAM_PORT"))
    return backend, bridging


@pytest.mark.timeout(60)
def test_state_through_bridge_reads_and_writes_the_remote_store(engines: tuple[EngineProcess, ...]) -> None:
    backend, bridging = engines
    on_a, on_b = connect(backend), connect(bridging)
    try:
        key = {"scope": "bridge-test", "key": "k1"}
        first = call(on_b, "state::set", {**key, "value": {"n": 1}})
        assert first == {"old_value": None, "new_value": {"n": 1}}
        assert call(on_a, "state::get", key) == {"n": 1}
        call(on_a, "state::set", {**key, "value": {"n": 2}})
        assert call(on_b, "state::get", key) == {"n": 2}
        updated = call(on_b, "state::update", {**key, "ops": [{"type": "increment", "path": "n", "by": 5}]})
        assert updated == {"old_value": {"n": 2}, "new_value": {"n": 7}}
        assert call(on_b, "state::list", {"scope": "bridge-test"}) == [{"n": 7}]
        assert "bridge-test" in call(on_b, "state::list_groups", {})["groups"]
        assert call(on_b, "state::delete", key) == {"n": 7}
        assert call(on_b, "state::get", {"scope": "bridge-test", "key": "missing"}) is None
        assert call(on_a, "state::get", key) is None
    finally:
        on_a.shutdown()
        on_b.shutdown()


async def _join(port: int, stream: str, group: str) -> websockets.ClientConnection:
    client = await websockets.connect(f"ws://127.0.0.1:{port}/")
    join = {"subscriptionId": "s1", "streamName": stream, "groupId": group}
    await client.send(json.dumps({"type": "join", "data": join}))
    sync = json.loads(await asyncio.wait_for(client.recv(), 5))
    assert sync["event"]["type"] == "sync"
    return client


@pytest.mark.timeout(60)
async def test_stream_items_live_on_the_remote_and_updates_reach_bridged_clients(
    engines: tuple[EngineProcess, ...],
) -> None:
    backend, bridging = engines
    on_b = await asyncio.to_thread(connect, bridging)
    try:
        subscriber = await _join(bridging.ports["STREAM_PORT"], "chat", "room-1")
        item = {"stream_name": "chat", "group_id": "room-1", "item_id": "m1"}
        result = await asyncio.to_thread(call, on_b, "stream::set", {**item, "data": {"text": "hi"}})
        assert result == {"old_value": None, "new_value": {"text": "hi"}}
        message = json.loads(await asyncio.wait_for(subscriber.recv(), 5))
        assert message["event"] == {"type": "create", "data": {"text": "hi"}}
        assert message["streamName"] == "chat" and message["id"] == "m1"
        on_a = await asyncio.to_thread(connect, backend)
        try:
            assert await asyncio.to_thread(call, on_a, "stream::get", item) == {"text": "hi"}
        finally:
            await asyncio.to_thread(on_a.shutdown)
        assert await asyncio.to_thread(
            call, on_b, "stream::list", {"stream_name": "chat", "group_id": "room-1"}
        ) == [{"text": "hi"}]
        await subscriber.close()
    finally:
        await asyncio.to_thread(on_b.shutdown)


@pytest.mark.timeout(90)
def test_expose_forward_and_invoke_across_a_remote_restart(
    engines: tuple[EngineProcess, ...], engine_factory: Callable[..., EngineProcess]
) -> None:
    backend, bridging = engines
    on_a, on_b = connect(backend), connect(bridging)
    try:
        on_b.register_function({"id": "b.local.double"}, lambda data: {"doubled": data["n"] * 2})
        on_a.register_function({"id": "a.upper"}, lambda data: {"upper": data["text"].upper()})
        # expose: A calls a function that lives on B
        assert eventually(lambda: call(on_a, "b.exposed.double", {"n": 21})) == {"doubled": 42}
        # forward: B's local id runs A's function
        assert eventually(lambda: call(on_b, "b.forward.upper", {"text": "abc"})) == {"upper": "ABC"}
        # bridge.invoke / bridge.invoke_async
        assert call(on_b, "bridge.invoke", {"function_id": "a.upper", "data": {"text": "x"}}) == {
            "upper": "X"
        }
        assert call(on_b, "bridge.invoke_async", {"function_id": "a.upper", "data": {"text": "x"}}) is None
        with pytest.raises(Exception, match="bridge_error"):
            call(on_b, "bridge.invoke", {"function_id": "a.nothing", "data": {}})
        with pytest.raises(Exception, match="deserialization_error"):
            call(on_b, "bridge.invoke", {"data": {}})

        # the remote goes away: calls fail fast with bridge_error instead of hanging
        on_a.shutdown()
        backend.stop()
        started = time.monotonic()
        with pytest.raises(Exception, match="bridge_error"):
            eventually(
                lambda: call(on_b, "bridge.invoke", {"function_id": "a.upper", "data": {}}) and False, 5
            )
        assert time.monotonic() - started < 6

        # the remote comes back on the same port: the bridge reconnects and re-exposes
        restarted = engine_factory(BACKEND, name="backend-again", ports={"ENGINE_PORT": backend.port})
        on_a = connect(restarted)
        assert eventually(lambda: call(on_a, "b.exposed.double", {"n": 5}), 20) == {"doubled": 10}
        assert eventually(lambda: call(on_b, "state::set", {"scope": "s", "key": "k", "value": 1}), 20)
        assert call(on_a, "state::get", {"scope": "s", "key": "k"}) == 1
    finally:
        on_a.shutdown()
        on_b.shutdown()
