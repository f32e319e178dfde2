"""Queue test helpers: engine configs for every adapter, a call recorder, polling."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aio_pika

REDIS_URL = "redis://127.0.0.1:6379/2"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
ADAPTERS = ["memory", "file", "redis", "rabbitmq"]


def adapter(kind: str, *, prefix: str, data_dir: Path, **extra: Any) -> dict[str, Any]:
    """The ``adapter`` mapping of a QueueModule config; ``extra`` goes into its ``config``."""
    if kind == "memory":
        return {
            "class": "modules::queue::BuiltinQueueAdapter",
            "config": {"store_method": "in_memory", **extra},
        }
    if kind == "file":
        config = {"store_method": "file_based", "file_path": str(data_dir), **extra}
        return {"class": "modules::queue::BuiltinQueueAdapter", "config": config}
    if kind == "redis":
        config = {"redis_url": REDIS_URL, "key_prefix": prefix, **extra}
        return {"class": "modules::queue::RedisAdapter", "config": config}
    config = {"amqp_url": AMQP_URL, "name_prefix": prefix, **extra}
    return {"class": "modules::queue::RabbitMQAdapter", "config": config}


def engine_config(adapter_config: dict[str, Any], queues: dict[str, Any] | None = None) -> str:
    """A config with only the QueueModule (YAML flow style is JSON)."""
    module = {
        "class": "modules::queue::QueueModule",
        "config": {"adapter": adapter_config, "queue_configs": queues or {}},
    }
    return "port: {ENGINE_PORT}\nmodules:\n  - " + json.dumps(module) + "\n"


def delete_rabbit_objects(prefix: str) -> None:
    """Delete the RabbitMQ queues a test created (names start with ``prefix``; needs rabbitmqctl)."""
    try:
        listing = subprocess.run(
            ["rabbitmqctl", "list_queues", "-q", "--no-table-headers", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return
    names = [line.strip() for line in listing.splitlines() if line.strip().startswith(prefix)]
    if names:
        asyncio.run(_delete_queues(names))


async def _delete_queues(names: list[str]) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)


class Recorder:
    """Thread-safe log of the calls a worker handler received, and how many ran at once."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, Any]] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def add(self, data: Any) -> None:
        with self.lock:
            self.calls.append((time.monotonic(), data))

    def enter(self) -> None:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def leave(self) -> None:
        with self.lock:
            self.active -= 1

    @property
    def data(self) -> list[Any]:
        with self.lock:
            return [d for _, d in self.calls]

    @property
    def times(self) -> list[float]:
        with self.lock:
            return [t for t, _ in self.calls]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Gate:
    """Holds async handlers until :meth:`open` (tests open it before they end, so no handler
    coroutine is left pending for the garbage collector)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.waiting = 0

    async def wait(self) -> None:
        self.waiting += 1
        try:
            await asyncio.to_thread(self._event.wait, 60)
        finally:
            self.waiting -= 1

    def open(self) -> None:
        self._event.set()
        wait_for(lambda: self.waiting == 0, 5)
