"""PubSubModule: fan-out to every subscriber, topic isolation, per-trigger unsubscribe, Redis
fan-out across engines, input and config errors."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

REDIS_URL = "redis://127.0.0.1:6379/3"


def config(adapter: dict[str, Any] | None = None) -> str:
    module: dict[str, Any] = {"class": "modules::pubsub::PubSubModule", "config": {}}
    if adapter is not None:
        module["config"]["adapter"] = adapter
    return "port: {ENGINE_PORT}\nmodules:\n  - " + json.dumps(module) + "\n"


def redis_adapter(prefix: str) -> dict[str, Any]:
    return {
        "class": "modules::pubsub::RedisAdapter",
        "config": {"redis_url": REDIS_URL, "channel_prefix": prefix},
    }


class Inbox:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.lock = threading.Lock()

    def add(self, data: Any) -> None:
        with self.lock:
            self.items.append(data)

    def __len__(self) -> int:
        with self.lock:
            return len(self.items)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def publish(client: Any, topic: str, data: Any) -> Any:
    return client.trigger({"function_id": "publish", "payload": {"topic": topic, "data": data}})


def subscribe(client: Any, function_id: str, topic: str, inbox: Inbox) -> Any:
    client.register_function({"id": function_id}, lambda data: inbox.add(data))
    return client.register_trigger(
        {"type": "subscribe", "function_id": function_id, "config": {"topic": topic}}
    )


@pytest.mark.parametrize("adapter", ["local", "redis"])
def test_every_subscriber_gets_each_message_and_topics_are_isolated(engine_factory, workers, adapter) -> None:
    prefix = f"iiitest-{uuid.uuid4().hex[:8]}:"
    engine = engine_factory(config(redis_adapter(prefix) if adapter == "redis" else None))
    client = workers(engine.ws_url)
    first, second, other = Inbox(), Inbox(), Inbox()
    subscribe(client, "sub.first", "news", first)
    subscribe(client, "sub.second", "news", second)
    subscribe(client, "sub.other", "other", other)
    time.sleep(0.3)
    assert publish(client, "news", {"headline": "hi"}) is None
    assert wait_for(lambda: len(first) == 1 and len(second) == 1)
    time.sleep(0.3)
    assert first.items == [{"headline": "hi"}] and second.items == [{"headline": "hi"}]
    assert other.items == []
    assert publish(client, "nobody-listens", [1, 2]) is None


def test_unregistering_one_trigger_keeps_the_others(engine_factory, workers) -> None:
    engine = engine_factory(config())
    client = workers(engine.ws_url)
    first, second = Inbox(), Inbox()
    first_trigger = subscribe(client, "sub.first", "topic", first)
    subscribe(client, "sub.second", "topic", second)
    time.sleep(0.3)
    first_trigger.unregister()
    time.sleep(0.3)
    publish(client, "topic", "after")
    assert wait_for(lambda: len(second) == 1)
    time.sleep(0.3)
    assert first.items == [] and second.items == ["after"]


def test_redis_adapter_fans_out_across_engines(engine_factory, workers) -> None:
    prefix = f"iiitest-{uuid.uuid4().hex[:8]}:"
    engines = [engine_factory(config(redis_adapter(prefix)), name=n) for n in ("a", "b")]
    inboxes = [Inbox(), Inbox()]
    clients = [workers(e.ws_url) for e in engines]
    for client, inbox in zip(clients, inboxes, strict=True):
        subscribe(client, "sub.everywhere", "shared", inbox)
    time.sleep(0.5)
    publish(clients[0], "shared", {"n": 1})
    publish(clients[1], "shared", {"n": 2})
    assert wait_for(lambda: all(len(i) == 2 for i in inboxes))
    for inbox in inboxes:
        assert sorted(d["n"] for d in inbox.items) == [1, 2]


def test_bad_input_is_refused(engine_factory, workers) -> None:
    engine = engine_factory(config())
    client = workers(engine.ws_url)
    with pytest.raises(Exception, match="topic_not_set"):
        publish(client, "", {})
    with pytest.raises(Exception, match="deserialization_error"):
        client.trigger({"function_id": "publish", "payload": {"data": 1}})


def test_unknown_config_key_fails_start_up(engine_factory) -> None:
    text = config().replace('"config": {}', '"config": {"adaptor": {}}')
    with pytest.raises(RuntimeError, match="adaptor"):
        engine_factory(text)
