"""Cron test fixtures: engine configs, SDK workers recording fires, Redis DB 4 cleanup."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tests.cron.recorder import CronWorker, FireLog

REDIS_URL = "redis://127.0.0.1:6379/4"

KV_CONFIG = """\
port: {ENGINE_PORT}
modules:
  - class: modules::cron::CronModule
"""

REDIS_CONFIG = """\
port: {ENGINE_PORT}
modules:
  - class: modules::cron::CronModule
    config:
      adapter:
        class: modules::cron::RedisCronAdapter
        config:
          redis_url: %s
          lock_ttl_ms: %d
"""


def redis_config(lock_ttl_ms: int = 30_000) -> str:
    return REDIS_CONFIG % (REDIS_URL, lock_ttl_ms)


@pytest.fixture
def fire_log() -> FireLog:
    return FireLog()


@pytest.fixture
def cron_worker(fire_log: FireLog) -> Iterator[Callable[..., CronWorker]]:
    """``cron_worker(url, trigger_config, **kw)`` starts an SDK worker; all are shut down after."""
    workers: list[CronWorker] = []

    def start(url: str, trigger_config: dict[str, Any], **kwargs: Any) -> CronWorker:
        worker = CronWorker(url, fire_log, trigger_config, **kwargs)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.close()


@pytest.fixture
def shared_job_id() -> Iterator[str]:
    """A fresh job id; its lock and last-fire keys are deleted from Redis DB 4 afterwards."""
    job_id = f"test-cron-{uuid.uuid4()}"
    yield job_id
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(f"cron_lock:{job_id}", f"cron_last_fire:{job_id}")
    client.close()
