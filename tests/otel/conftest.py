"""Fixtures of the observability tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.otel.helpers import RawClient, otel_config


async def echo(message: dict[str, Any]) -> Any:
    return {"echo": message.get("data")}


@pytest.fixture
async def echo_pair(engine_factory: Any) -> AsyncIterator[tuple[RawClient, RawClient]]:
    """An engine with the default test OtelModule, a callee serving ``trace.echo`` and a caller."""
    engine = engine_factory(otel_config())
    callee = await RawClient.connect(engine.ws_url)
    caller = await RawClient.connect(engine.ws_url)
    await callee.register_function("trace.echo", echo)
    await asyncio.sleep(0.2)
    yield callee, caller
    await caller.close()
    await callee.close()
