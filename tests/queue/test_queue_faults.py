"""Faults: engine SIGKILL and restart, hung and killed workers, two engines on one Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from typing import Any

import pytest
from iii import TriggerAction
from queue_helpers import Gate, Recorder, adapter, engine_config, wait_for

VISIBILITY_MS = 1000


def enqueue(client: Any, queue: str, function_id: str, data: Any) -> Any:
    return client.trigger(
        {"function_id": function_id, "payload": data, "action": TriggerAction.Enqueue(queue=queue)}
    )


def stats(client: Any, **target: str) -> dict[str, Any]:
    return client.trigger({"function_id": "queue::stats", "payload": target})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["file", "redis", "rabbitmq"])
def test_engine_sigkill_loses_no_acknowledged_enqueue(
    engine_factory, workers, prefix, tmp_path, kind
) -> None:
    # until the new worker registers, deliveries fail with function_not_found: allow for that
    patience = {"visibility_timeout_ms": VISIBILITY_MS, "max_retries": 10, "backoff_ms": 200}
    queues = {
        "work": {"concurrency": 5, **patience},
        "fifo": {"type": "fifo", "message_group_field": "g", **patience},
    }
    config = engine_config(adapter(kind, prefix=prefix, data_dir=tmp_path / "queue-data"), queues)
    first = engine_factory(config)
    topic = f"{prefix}-topic"
    stuck = workers(first.ws_url)

    gate = Gate()

    async def never_finishes(data: Any) -> None:
        await gate.wait()

    stuck.register_function({"id": "work.run"}, never_finishes)
    stuck.register_function({"id": "fifo.run"}, never_finishes)
    for n in range(100):
        enqueue(stuck, "work", "work.run", {"n": n})
    for n in range(5):
        enqueue(stuck, "fifo", "fifo.run", {"g": "one", "n": n})
    for n in range(300):  # no subscriber yet: these wait in the topic queue
        stuck.trigger({"function_id": "enqueue", "payload": {"topic": topic, "data": {"n": n}}})
    assert wait_for(lambda: stats(stuck, queue="work")["in_flight"] == 5, 5)
    assert stats(stuck, queue="fifo")["in_flight"] == 1

    first.stop(signal.SIGKILL)
    gate.open()
    second = engine_factory(config)
    client = workers(second.ws_url)
    work, fifo, topical = Recorder(), Recorder(), Recorder()
    client.register_function({"id": "work.run"}, lambda data: work.add(data["n"]))
    client.register_function({"id": "fifo.run"}, lambda data: fifo.add(data["n"]))
    registered_at = time.monotonic()
    client.register_function({"id": "topic.run"}, lambda data: topical.add(data["n"]))
    client.register_trigger({"type": "queue", "function_id": "topic.run", "config": {"topic": topic}})

    assert wait_for(lambda: len(set(work.data)) == 100 and len(set(topical.data)) == 300, 30)
    assert wait_for(lambda: len(fifo.data) >= 5, 10)
    assert fifo.data[:5] == [0, 1, 2, 3, 4]
    # the FIFO group was held by a message in flight at the kill: it moves on within the visibility timeout
    assert fifo.times[0] - registered_at < VISIBILITY_MS / 1000 + 2
    assert sorted(set(work.data)) == list(range(100))
    assert sorted(set(topical.data)) == list(range(300))


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_hung_delivery_is_redelivered_after_visibility_timeout(
    engine_factory, workers, prefix, tmp_path, kind
):
    queues = {"hang": {"visibility_timeout_ms": 800, "concurrency": 2}}
    engine = engine_factory(engine_config(adapter(kind, prefix=prefix, data_dir=tmp_path / "q"), queues))
    client = workers(engine.ws_url)
    recorder = Recorder()

    gate = Gate()

    async def handler(data: Any) -> None:
        recorder.add(data)
        if len(recorder.calls) == 1:
            await gate.wait()  # hangs; the engine must not wait for it

    client.register_function({"id": "hang.run"}, handler)
    enqueue(client, "hang", "hang.run", {"x": 1})
    assert wait_for(lambda: len(recorder.calls) == 2, 8)
    gap = recorder.times[1] - recorder.times[0]
    assert 0.7 <= gap < 3.0, gap
    assert wait_for(lambda: stats(client, queue="hang")["in_flight"] == 0, 5)
    assert stats(client, queue="hang")["depth"] == 0
    gate.open()


WORKER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from iii import InitOptions, register_worker

    client = register_worker(sys.argv[1], InitOptions(otel={"enabled": False}))
    marker = Path(sys.argv[2])

    def handler(data):
        marker.write_text(str(data["n"]))
        time.sleep(60)

    client.register_function({"id": "crash.run"}, handler)
    marker.with_suffix(".ready").write_text("ready")
    time.sleep(120)
    """
)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_worker_killed_mid_message_is_redelivered(engine_factory, workers, prefix, tmp_path, kind) -> None:
    queues = {"crash": {"backoff_ms": 200, "max_retries": 5, "visibility_timeout_ms": VISIBILITY_MS}}
    engine = engine_factory(engine_config(adapter(kind, prefix=prefix, data_dir=tmp_path / "q"), queues))
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    marker = tmp_path / "started"
    process = subprocess.Popen(
        [sys.executable, str(script), engine.ws_url, str(marker)], start_new_session=True
    )
    try:
        assert wait_for(lambda: marker.with_suffix(".ready").exists(), 15)
        producer = workers(engine.ws_url)
        enqueue(producer, "crash", "crash.run", {"n": 7})
        assert wait_for(marker.exists, 10)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
        recorder = Recorder()
        producer.register_function({"id": "crash.run"}, lambda data: recorder.add(data))
        assert wait_for(lambda: recorder.data == [{"n": 7}], 10)
        assert wait_for(lambda: stats(producer, queue="crash")["depth"] == 0, 5)
        assert stats(producer, queue="crash")["dead"] == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.mark.timeout(240)
def test_two_engines_on_one_redis_handle_each_message_exactly_once(engine_factory, workers, prefix, tmp_path):
    total = 10_000
    config = engine_config(
        adapter("redis", prefix=prefix, data_dir=tmp_path), {"shared": {"concurrency": 50}}
    )
    engines = [engine_factory(config, name="a"), engine_factory(config, name="b")]
    counts: Counter[int] = Counter()
    per_engine: Counter[str] = Counter()
    clients = []
    for engine in engines:
        client = workers(engine.ws_url)

        async def handler(data: Any, name: str = engine.ws_url) -> None:
            counts[data["n"]] += 1
            per_engine[name] += 1

        client.register_function({"id": "shared.run"}, handler)
        clients.append(client)

    async def produce(client: Any, numbers: range) -> None:
        for start in range(numbers.start, numbers.stop, 200):
            batch = range(start, min(start + 200, numbers.stop))
            await asyncio.gather(
                *(
                    client._async_trigger(
                        {
                            "function_id": "shared.run",
                            "payload": {"n": n},
                            "action": TriggerAction.Enqueue(queue="shared"),
                        }
                    )
                    for n in batch
                )
            )

    half = total // 2
    futures = [
        asyncio.run_coroutine_threadsafe(produce(clients[0], range(0, half)), clients[0]._loop),
        asyncio.run_coroutine_threadsafe(produce(clients[1], range(half, total)), clients[1]._loop),
    ]
    for future in futures:
        future.result(120)
    assert wait_for(lambda: sum(counts.values()) >= total, 120, interval=0.2)
    time.sleep(1.0)
    assert len(counts) == total and set(counts.values()) == {1}
    assert all(per_engine[e.ws_url] > 0 for e in engines), per_engine
