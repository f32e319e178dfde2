"""The queue module's answers to bad input and bad config, and file-store durability of dead letters."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest
import websockets
from iii import TriggerAction
from queue_helpers import adapter, engine_config, wait_for

QUEUES = {
    "plain": {"concurrency": 1},
    "payments": {"type": "fifo", "message_group_field": "tx"},
}


def enqueue(client: Any, queue: str, data: Any) -> Any:
    return client.trigger(
        {"function_id": "x.run", "payload": data, "action": TriggerAction.Enqueue(queue=queue)}
    )


def call(client: Any, function_id: str, payload: Any) -> Any:
    return client.trigger({"function_id": function_id, "payload": payload})


def test_enqueue_errors_have_the_reference_messages(engine_factory, workers, tmp_path) -> None:
    engine = engine_factory(engine_config(adapter("memory", prefix="", data_dir=tmp_path), QUEUES))
    client = workers(engine.ws_url)
    with pytest.raises(Exception, match="Queue 'missing' not found"):
        enqueue(client, "missing", {})
    with pytest.raises(
        Exception, match="FIFO queue 'payments' requires field 'tx' in data, but it was not found"
    ):
        enqueue(client, "payments", {"amount": 1})
    with pytest.raises(Exception, match="FIFO queue 'payments': field 'tx' must not be null"):
        enqueue(client, "payments", {"tx": None})
    assert set(enqueue(client, "payments", {"tx": 7})) == {"messageReceiptId"}
    with pytest.raises(Exception, match="topic_not_set"):
        call(client, "enqueue", {"topic": "", "data": 1})
    with pytest.raises(Exception, match="deserialization_error"):
        call(client, "enqueue", {"topic": "t"})
    with pytest.raises(Exception, match="queue_not_found"):
        call(client, "queue::dlq::list", {"queue": "missing"})
    with pytest.raises(Exception, match="invalid_argument"):
        call(client, "queue::dlq::list", {"queue": "plain", "topic": "t"})
    listing = call(client, "queue::stats", {})["queues"]
    assert {"queue": "plain", "depth": 0, "ready": 0, "delayed": 0, "in_flight": 0, "dead": 0} in listing


@pytest.mark.parametrize(
    ("queue", "message"),
    [
        ({"type": "lifo"}, "expected 'standard' or 'fifo'"),
        ({"type": "fifo"}, "requires 'message_group_field'"),
        ({"max_retries": 0}, "must be at least 1"),
    ],
)
def test_bad_queue_config_fails_start_up(engine_factory, tmp_path, queue, message) -> None:
    config = engine_config(adapter("memory", prefix="", data_dir=tmp_path), {"broken": queue})
    with pytest.raises(RuntimeError, match=message):
        engine_factory(config)


def test_file_store_keeps_dead_letters_across_a_kill(engine_factory, workers, tmp_path) -> None:
    queues = {"fragile": {"max_retries": 1}}
    config = engine_config(adapter("file", prefix="", data_dir=tmp_path / "store"), queues)
    engine = engine_factory(config)
    client = workers(engine.ws_url)

    def fail(data: Any) -> None:
        raise RuntimeError("no")

    client.register_function({"id": "x.run"}, fail)
    receipt = enqueue(client, "fragile", {"keep": "me"})["messageReceiptId"]
    assert wait_for(lambda: len(call(client, "queue::dlq::list", {"queue": "fragile"})["messages"]) == 1, 5)
    engine.stop(signal.SIGKILL)
    restarted = engine_factory(config)
    other = workers(restarted.ws_url)
    letters = call(other, "queue::dlq::list", {"queue": "fragile"})["messages"]
    assert [(m["id"], m["data"], m["attempts"]) for m in letters] == [(receipt, {"keep": "me"}, 1)]
    assert "no" in letters[0]["error"]


async def test_bad_trigger_queue_config_is_refused(engine_factory, tmp_path) -> None:
    engine = engine_factory(engine_config(adapter("memory", prefix="", data_dir=tmp_path)))
    async with websockets.connect(engine.ws_url) as socket:
        trigger = {"topic": "t", "queue_config": {"concurrency": 0}}
        await socket.send(
            json.dumps(
                {
                    "type": "registertrigger",
                    "id": "bad",
                    "trigger_type": "queue",
                    "function_id": "f",
                    "config": trigger,
                }
            )
        )
        while True:
            reply = json.loads(await asyncio.wait_for(socket.recv(), 5))
            if reply.get("type") == "triggerregistrationresult":
                break
    assert reply["id"] == "bad"
    assert reply["error"]["code"] == "trigger_registration_failed"
    assert "queue_config.concurrency" in reply["error"]["message"]
