"""Fixtures for the iii-steps tests: a kernel-only engine and workers that reconnect quickly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from iii_steps import ReconnectPolicy, Worker

from tests.conftest import EngineProcess

KERNEL_CONFIG = "port: {ENGINE_PORT}\nmodules: []\n"
FAST_RECONNECT = ReconnectPolicy(initial_delay=0.05, max_delay=0.5, jitter=0.1)


@pytest.fixture
def kernel(engine_factory: Callable[..., EngineProcess]) -> EngineProcess:
    """An engine with only the always-loaded modules."""
    return engine_factory(KERNEL_CONFIG)


@pytest.fixture
async def make_worker() -> AsyncIterator[Callable[..., Worker]]:
    """Build workers (``make_worker(url, **kw)``); every one is stopped after the test."""
    workers: list[Worker] = []

    def factory(url: str, **kwargs: Any) -> Worker:
        kwargs.setdefault("reconnect", FAST_RECONNECT)
        worker = Worker(url, **kwargs)
        workers.append(worker)
        return worker

    yield factory
    for worker in workers:
        await worker.stop()
