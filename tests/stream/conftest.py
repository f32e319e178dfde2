"""Fixtures of the stream suite: one engine per test, parametrised over the adapters."""

from __future__ import annotations

import pytest

from tests.state.conftest import adapter, engine_in, key_prefix  # noqa: F401 - shared fixtures
from tests.state.support import stream_config


@pytest.fixture
def stream_engine(engine_factory, adapter: str, key_prefix: str):  # noqa: F811
    """An engine with the stream module on the parametrised adapter."""
    return engine_factory(stream_config(adapter, key_prefix), wait_ports=("ENGINE_PORT", "STREAM_PORT"))


@pytest.fixture
def memory_stream_engine(engine_factory, key_prefix: str):  # noqa: F811
    """An engine with the stream module on the in-memory adapter (for adapter-neutral tests)."""
    return engine_factory(stream_config("memory", key_prefix), wait_ports=("ENGINE_PORT", "STREAM_PORT"))
