"""Delivery semantics on every adapter: retries with back-off, dead letters and redrive, FIFO
groups under failures, concurrency limits, topic queues with competing consumers."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from iii import TriggerAction
from queue_helpers import ADAPTERS, Recorder, adapter, engine_config, wait_for


@pytest.fixture(params=ADAPTERS)
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "rabbitmq" and importlib.util.find_spec("iii_queue.rabbitmq_store") is None:
        pytest.skip("RabbitMQ adapter not installed")
    return request.param


def start(
    engine_factory: Any, kind: str, prefix: str, tmp_path: Path, queues: dict[str, Any], **extra: Any
) -> Any:
    return engine_factory(
        engine_config(adapter(kind, prefix=prefix, data_dir=tmp_path / "queue", **extra), queues)
    )


def enqueue(client: Any, queue: str, function_id: str, data: Any) -> Any:
    return client.trigger(
        {"function_id": function_id, "payload": data, "action": TriggerAction.Enqueue(queue=queue)}
    )


def call(client: Any, function_id: str, payload: Any) -> Any:
    return client.trigger({"function_id": function_id, "payload": payload})


def test_retries_back_off_then_dead_letter_and_redrive(
    engine_factory, workers, prefix, tmp_path, kind
) -> None:
    queues = {"jobs": {"max_retries": 3, "backoff_ms": 300, "concurrency": 1}}
    engine = start(engine_factory, kind, prefix, tmp_path, queues)
    client = workers(engine.ws_url)
    recorder = Recorder()
    healthy = {"value": False}

    def handler(data: Any) -> None:
        recorder.add(data)
        if not healthy["value"]:
            raise RuntimeError(f"boom {data['n']}")

    client.register_function({"id": "jobs.work"}, handler)
    receipt = enqueue(client, "jobs", "jobs.work", {"n": 1})
    assert isinstance(receipt["messageReceiptId"], str)
    assert wait_for(lambda: len(recorder.calls) >= 3, 10)
    times = recorder.times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # backoff_ms x 2^(n-1): 300 ms, then 600 ms
    assert 0.27 <= gaps[0] < 0.9 and 0.55 <= gaps[1] < 1.3, gaps

    def dead() -> list[Any]:
        return call(client, "queue::dlq::list", {"queue": "jobs"})["messages"]

    assert wait_for(lambda: len(dead()) == 1, 5)
    letter = dead()[0]
    assert letter["id"] == receipt["messageReceiptId"]
    assert letter["data"] == {"n": 1} and letter["attempts"] == 3 and "boom 1" in letter["error"]
    assert letter["function_id"] == "jobs.work" and letter["failed_at"] > 0
    assert wait_for(lambda: call(client, "queue::stats", {"queue": "jobs"})["dead"] == 1, 5)
    time.sleep(0.3)
    assert len(recorder.calls) == 3  # no 4th attempt

    healthy["value"] = True
    assert call(client, "queue::dlq::redrive", {"queue": "jobs"})["redriven"] == 1
    assert wait_for(lambda: len(recorder.calls) == 4, 5)
    assert wait_for(
        lambda: (
            call(client, "queue::stats", {"queue": "jobs"}) | {"queue": "jobs"}
            == {"queue": "jobs", "depth": 0, "ready": 0, "delayed": 0, "in_flight": 0, "dead": 0}
        ),
        5,
    )

    healthy["value"] = False
    enqueue(client, "jobs", "jobs.work", {"n": 2})
    assert wait_for(lambda: len(dead()) == 1, 10)
    assert call(client, "queue::dlq::purge", {"queue": "jobs"})["purged"] == 1
    assert dead() == []


def test_fifo_groups_keep_order_under_failures_and_run_in_parallel(
    engine_factory, workers, prefix, tmp_path, kind
) -> None:
    queues = {
        "orders": {
            "type": "fifo",
            "message_group_field": "g",
            "concurrency": 3,
            "max_retries": 5,
            "backoff_ms": 50,
        }
    }
    engine = start(engine_factory, kind, prefix, tmp_path, queues)
    client = workers(engine.ws_url)
    done: dict[str, list[int]] = defaultdict(list)
    failed_once: set[tuple[str, int]] = set()
    active: dict[str, int] = defaultdict(int)
    overlap = {"groups": 0, "same_group": 0}

    async def handler(data: dict[str, Any]) -> None:
        key = (data["g"], data["n"])
        active[data["g"]] += 1
        overlap["same_group"] = max(overlap["same_group"], active[data["g"]])
        overlap["groups"] = max(overlap["groups"], sum(1 for v in active.values() if v))
        try:
            await asyncio.sleep(0.03)
            if data["n"] % 3 == 1 and key not in failed_once:
                failed_once.add(key)
                raise RuntimeError("first attempt fails")
            done[data["g"]].append(data["n"])
        finally:
            active[data["g"]] -= 1

    client.register_function({"id": "orders.handle"}, handler)
    for n in range(6):
        for group in ("a", "b", "c"):
            enqueue(client, "orders", "orders.handle", {"g": group, "n": n})
    assert wait_for(lambda: sum(len(v) for v in done.values()) == 18, 30), dict(done)
    assert {g: done[g] for g in "abc"} == {g: list(range(6)) for g in "abc"}
    assert overlap["same_group"] == 1
    if kind != "rabbitmq":  # the RabbitMQ adapter runs a FIFO queue one message at a time
        assert overlap["groups"] >= 2


def test_concurrency_limit(engine_factory, workers, prefix, tmp_path, kind) -> None:
    engine = start(engine_factory, kind, prefix, tmp_path, {"limited": {"concurrency": 2}})
    client = workers(engine.ws_url)
    recorder = Recorder()

    async def handler(data: Any) -> None:
        recorder.enter()
        await asyncio.sleep(0.15)
        recorder.add(data)
        recorder.leave()

    client.register_function({"id": "limited.work"}, handler)
    for n in range(8):
        enqueue(client, "limited", "limited.work", {"n": n})
    assert wait_for(lambda: len(recorder.calls) == 8, 15)
    assert recorder.max_active == 2
    assert sorted(d["n"] for d in recorder.data) == list(range(8))


def test_topic_queue_competing_consumers_condition_and_dead_letters(
    engine_factory, workers, prefix, tmp_path, kind
) -> None:
    engine = start(engine_factory, kind, prefix, tmp_path, {}, backoff_ms=50, max_attempts=2)
    client = workers(engine.ws_url)
    first, second, failing = Recorder(), Recorder(), Recorder()
    topic = f"{prefix}-orders"
    client.register_function({"id": "topic.first"}, lambda data: first.add(data))
    client.register_function({"id": "topic.second"}, lambda data: second.add(data))
    client.register_function({"id": "topic.only_even"}, lambda data: data["n"] % 2 == 0)
    for function_id in ("topic.first", "topic.second"):
        client.register_trigger(
            {
                "type": "queue",
                "function_id": function_id,
                "config": {"topic": topic, "condition_function_id": "topic.only_even"},
            }
        )

    def fail(data: Any) -> None:
        failing.add(data)
        raise RuntimeError("always fails")

    client.register_function({"id": "topic.fail"}, fail)
    client.register_trigger(
        {"type": "queue", "function_id": "topic.fail", "config": {"topic": f"{topic}-bad"}}
    )
    time.sleep(0.3)
    for n in range(20):
        assert call(client, "enqueue", {"topic": topic, "data": {"n": n}}) is None
    call(client, "enqueue", {"topic": f"{topic}-bad", "data": {"n": -1}})
    assert wait_for(lambda: len(first.calls) + len(second.calls) == 10, 10)
    time.sleep(0.3)
    received = sorted(d["n"] for d in first.data + second.data)
    assert received == list(range(0, 20, 2))  # each even message exactly once, odd ones skipped
    assert wait_for(lambda: call(client, "queue::stats", {"topic": topic})["depth"] == 0, 5)

    dead = lambda: call(client, "queue::dlq::list", {"topic": f"{topic}-bad"})["messages"]  # noqa: E731
    assert wait_for(lambda: len(dead()) == 1, 10)
    assert len(failing.calls) == 2 and dead()[0]["data"] == {"n": -1}


def test_fifo_topic_trigger_retries_in_place_one_at_a_time(
    engine_factory, workers, prefix, tmp_path, kind
) -> None:
    engine = start(engine_factory, kind, prefix, tmp_path, {}, backoff_ms=100)
    client = workers(engine.ws_url)
    recorder = Recorder()
    failed: set[int] = set()

    async def handler(data: dict[str, Any]) -> None:
        recorder.enter()
        try:
            await asyncio.sleep(0.02)
            if data["n"] == 1 and 1 not in failed:
                failed.add(1)
                raise RuntimeError("first attempt fails")
            recorder.add(data["n"])
        finally:
            recorder.leave()

    topic = f"{prefix}-ordered"
    client.register_function({"id": "ordered.run"}, handler)
    client.register_trigger(
        {
            "type": "queue",
            "function_id": "ordered.run",
            "config": {"topic": topic, "queue_config": {"type": "fifo"}},
        }
    )
    time.sleep(0.3)
    for n in range(5):
        call(client, "enqueue", {"topic": topic, "data": {"n": n}})
    assert wait_for(lambda: len(recorder.calls) == 5, 10)
    assert recorder.data == [0, 1, 2, 3, 4]
    assert recorder.max_active == 1
