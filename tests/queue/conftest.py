"""Queue test fixtures: unique prefixes (cleaned up in Redis DB 2 and RabbitMQ), SDK workers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from iii import InitOptions, register_worker
from iii.iii import III
from queue_helpers import REDIS_URL, delete_rabbit_objects


@pytest.fixture
def prefix() -> Iterator[str]:
    """A unique key/queue prefix; its Redis keys (DB 2) are deleted afterwards."""
    value = f"iiitest-{uuid.uuid4().hex[:10]}"
    yield value
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{value}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()
    delete_rabbit_objects(value)


@pytest.fixture
def workers() -> Iterator[Callable[[str], III]]:
    """Connect SDK workers with ``workers(url)``; all are shut down after the test."""
    clients: list[III] = []

    def connect(url: str) -> III:
        client = register_worker(url, InitOptions(worker_name="queue-test", otel={"enabled": False}))
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.shutdown()
