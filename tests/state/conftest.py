"""Fixtures of the state suite: one engine per test, parametrised over the adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.conftest import EngineProcess, start_engine
from tests.state.support import ADAPTERS, redis_keys, state_config, unique


@pytest.fixture
def key_prefix() -> Iterator[str]:
    """A fresh Redis key prefix; its keys are removed after the test."""
    prefix = unique("iii-test-") + ":"
    with redis_keys(prefix):
        yield prefix


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def state_engine(engine_factory, adapter: str, key_prefix: str):
    """An engine with the state module on the parametrised adapter."""
    return engine_factory(state_config(adapter, key_prefix))


@pytest.fixture
def engine_in(tmp_path) -> Iterator[Callable[..., EngineProcess]]:
    """Start engines in a named work directory (so a restart finds the previous data)."""
    started: list[EngineProcess] = []

    def start(config: str, directory: str = "engine", **options) -> EngineProcess:
        engine = start_engine(config, tmp_path / directory, **options)
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.stop()
