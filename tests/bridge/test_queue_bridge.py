"""Two real engines: B's queue module forwards through ``modules::queue::adapters::Bridge`` to A,
which holds the queues. Named queues run on A, B's queue triggers consume A's topics with A's
retries, errors keep their meaning, and the bridge survives a restart of A."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from iii import InitOptions, TriggerAction, register_worker
from iii.iii import III

from tests.bridge.test_bridge import eventually
from tests.conftest import EngineProcess

REMOTE = """
port: {ENGINE_PORT}
modules:
  - class: modules::queue::QueueModule
    config:
      adapter: {class: modules::queue::BuiltinQueueAdapter, config: {max_attempts: 3, backoff_ms: 100}}
      queue_configs:
        jobs: {max_retries: 3, backoff_ms: 100}
"""

BRIDGING = """
port: {ENGINE_PORT}
modules:
  - class: modules::queue::QueueModule
    config:
      adapter: {class: modules::queue::adapters::Bridge, config: {bridge_url: "ws://127.0.0.1:{REMOTE_PORT}"}}
  - class: modules::bridge_client::BridgeClientModule
    config:
      url: "ws://127.0.0.1:{REMOTE_PORT}"
      expose:
        - {local_function: b.jobs.work}
"""


class Calls:
    """Thread-safe record of what a handler received."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._lock = threading.Lock()

    def add(self, data: Any) -> None:
        with self._lock:
            self.items.append(data)

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)


@pytest.fixture
def clients() -> Iterator[Callable[[EngineProcess], III]]:
    """Connect SDK workers with ``clients(engine)``; all are shut down after the test."""
    connected: list[III] = []

    def connect(engine: EngineProcess) -> III:
        client = register_worker(
            engine.ws_url, InitOptions(invocation_timeout_ms=5000, otel={"enabled": False})
        )
        connected.append(client)
        return client

    yield connect
    for client in connected:
        client.shutdown()


@pytest.fixture
def engines(engine_factory: Callable[..., EngineProcess]) -> tuple[EngineProcess, EngineProcess]:
    remote = engine_factory(REMOTE, name="remote")
    bridging = engine_factory(BRIDGING.replace("{REMOTE_PORT}", str(remote.port)), name="bridging")
    return remote, bridging


def enqueue(client: III, queue: str, function_id: str, data: Any) -> Any:
    return client.trigger(
        {"function_id": function_id, "payload": data, "action": TriggerAction.Enqueue(queue=queue)}
    )


def call(client: III, function_id: str, payload: Any) -> Any:
    return client.trigger({"function_id": function_id, "payload": payload})


def flaky(calls: Calls, fail_first: set[int]) -> Callable[[Any], Any]:
    """A handler that records every attempt and fails the first attempt of the ``n`` listed."""

    def handler(data: Any) -> Any:
        calls.add(data)
        if data["n"] in fail_first:
            fail_first.discard(data["n"])
            raise RuntimeError(f"first attempt of {data['n']} fails")
        return {"done": data["n"]}

    return handler


def subscribe(client: III, topic: str, function_id: str, condition: str | None = None) -> Any:
    config: dict[str, Any] = {"topic": topic}
    if condition is not None:
        config["condition_function_id"] = condition
    return client.register_trigger({"type": "queue", "function_id": function_id, "config": config})


def remote_queue_triggers(client: III) -> list[dict[str, Any]]:
    listed = call(client, "engine::triggers::list", {})
    return [t for t in listed["triggers"] if t["trigger_type"] == "queue"]


@pytest.mark.timeout(60)
def test_named_queue_enqueued_through_the_bridge_runs_on_the_remote(
    engines: tuple[EngineProcess, EngineProcess], clients: Callable[[EngineProcess], III]
) -> None:
    remote, bridging = engines
    on_a, on_b = clients(remote), clients(bridging)
    on_a_calls, on_b_calls = Calls(), Calls()
    on_a.register_function({"id": "a.jobs.work"}, flaky(on_a_calls, {1}))
    # a function of B reached by A's queue consumer: B exposes it on A (BridgeClientModule)
    on_b.register_function({"id": "b.jobs.work"}, flaky(on_b_calls, set()))
    time.sleep(0.3)

    receipt = eventually(lambda: enqueue(on_b, "jobs", "a.jobs.work", {"n": 1}))
    assert isinstance(receipt["messageReceiptId"], str)
    # A's queue retries the failed first attempt (backoff_ms 100)
    assert eventually(lambda: len(on_a_calls) == 2, 5)
    assert on_a_calls.items == [{"n": 1}, {"n": 1}]

    eventually(lambda: enqueue(on_b, "jobs", "b.jobs.work", {"n": 2}))
    assert eventually(lambda: len(on_b_calls) == 1, 5)
    assert on_b_calls.items == [{"n": 2}]

    # stats and dead letters are A's
    stats = eventually(lambda: (s := call(on_b, "queue::stats", {"queue": "jobs"}))["depth"] == 0 and s)
    assert stats == call(on_a, "queue::stats", {"queue": "jobs"})
    assert call(on_b, "queue::dlq::list", {"queue": "jobs"}) == {"queue": "jobs", "messages": []}

    with pytest.raises(Exception, match=r"enqueue_error.*Queue 'nope' not found"):
        enqueue(on_b, "nope", "a.jobs.work", {"n": 3})
    with pytest.raises(Exception, match=r"bridge_error.*queue_not_found"):
        call(on_b, "queue::dlq::list", {"queue": "nope"})


@pytest.mark.timeout(60)
def test_topic_queue_triggers_of_the_bridging_engine_consume_the_remote_topic(
    engines: tuple[EngineProcess, EngineProcess], clients: Callable[[EngineProcess], III]
) -> None:
    remote, bridging = engines
    on_a, on_b = clients(remote), clients(bridging)
    calls = Calls()
    on_b.register_function({"id": "b.topic.handle"}, flaky(calls, {0, 2}))
    on_b.register_function({"id": "b.topic.even"}, lambda data: data["n"] % 2 == 0)
    trigger = subscribe(on_b, "orders", "b.topic.handle", condition="b.topic.even")
    # the bridge registered a proxy and a queue trigger on A (without B's condition)
    proxies = eventually(lambda: remote_queue_triggers(on_a))
    assert len(proxies) == 1 and proxies[0]["config"] == {"topic": "orders"}

    for n in range(4):
        assert call(on_b, "enqueue", {"topic": "orders", "data": {"n": n}}) is None
    call(on_a, "enqueue", {"topic": "orders", "data": {"n": 4}})  # published on A directly
    # even messages: the first attempts of 0 and 2 fail and are retried by A; odd ones are skipped
    assert eventually(lambda: len(calls) == 5, 10)
    assert sorted(d["n"] for d in calls.items) == [0, 0, 2, 2, 4]
    assert eventually(lambda: call(on_b, "queue::stats", {"topic": "orders"})["depth"] == 0, 5)
    assert call(on_b, "queue::dlq::list", {"topic": "orders"})["messages"] == []

    trigger.unregister()
    assert eventually(lambda: remote_queue_triggers(on_a) == [], 5) is True


@pytest.mark.timeout(90)
def test_remote_down_fails_fast_and_restart_resumes_delivery(
    engines: tuple[EngineProcess, EngineProcess],
    clients: Callable[[EngineProcess], III],
    engine_factory: Callable[..., EngineProcess],
) -> None:
    remote, bridging = engines
    on_b = clients(bridging)
    calls = Calls()
    on_b.register_function({"id": "b.topic.handle"}, flaky(calls, set()))
    subscribe(on_b, "events", "b.topic.handle")
    call(on_b, "enqueue", {"topic": "events", "data": {"n": 1}})
    assert eventually(lambda: len(calls) == 1, 5)

    remote.stop()
    started = time.monotonic()
    with pytest.raises(Exception, match="bridge_error"):
        eventually(lambda: enqueue(on_b, "jobs", "b.topic.handle", {"n": 2}) and False, 5)
    with pytest.raises(Exception, match="bridge_error"):
        call(on_b, "enqueue", {"topic": "events", "data": {"n": 2}})
    assert time.monotonic() - started < 6

    # A comes back on the same port (empty): the bridge re-registers its proxy and trigger there
    restarted = engine_factory(REMOTE, name="remote-again", ports={"ENGINE_PORT": remote.port})
    on_a = clients(restarted)
    assert eventually(lambda: remote_queue_triggers(on_a), 20)
    on_a.register_function({"id": "a.jobs.work"}, flaky(Calls(), set()))
    assert eventually(lambda: call(on_b, "enqueue", {"topic": "events", "data": {"n": 3}}) is None, 10)
    assert eventually(lambda: len(calls) == 2, 5)
    assert calls.items == [{"n": 1}, {"n": 3}]
    assert eventually(lambda: enqueue(on_b, "jobs", "a.jobs.work", {"n": 4}), 5)
