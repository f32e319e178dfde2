"""Kernel test fixtures: an engine with only the always-loaded modules, and raw protocol clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import EngineProcess
from tests.kernel.rawworker import RawWorker

KERNEL_CONFIG = "port: {ENGINE_PORT}\nmodules: []\n"


@pytest.fixture
def kernel_engine(engine_factory: Callable[..., EngineProcess]) -> EngineProcess:
    """An engine with no configured module (only the always-loaded ones)."""
    return engine_factory(KERNEL_CONFIG)


@pytest.fixture
async def connect_worker(kernel_engine: EngineProcess) -> AsyncIterator[Callable[..., Any]]:
    """``await connect_worker()`` opens a RawWorker on ``kernel_engine``; all are closed after."""
    workers: list[RawWorker] = []

    async def open_worker(**options: Any) -> RawWorker:
        worker = await RawWorker.connect(kernel_engine.ws_url, **options)
        workers.append(worker)
        return worker

    yield open_worker
    for worker in workers:
        await worker.close()
