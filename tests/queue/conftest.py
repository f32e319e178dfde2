"""Queue test fixtures: unique prefixes (cleaned up in Redis DB 2 and RabbitMQ), SDK workers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
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
