"""Fixtures of the state suite: one engine per test, parametrised over the adapters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
