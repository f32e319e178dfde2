"""SIGTERM/SIGINT: graceful shutdown, in-flight calls failed, exit status 0."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import EngineProcess
from tests.kernel.conftest import KERNEL_CONFIG
from tests.kernel.rawworker import RawWorker

STOPPED = {"code": "invocation_stopped", "message": "Invocation stopped"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_fails_pending_calls_and_exits_0(
    engine_factory: Callable[..., EngineProcess], signum: signal.Signals
) -> None:
    engine = engine_factory(KERNEL_CONFIG)
    callee, caller = await RawWorker.connect(engine.ws_url), await RawWorker.connect(engine.ws_url)
    await callee.register_function("slow")
    await asyncio.sleep(0.1)
    call = asyncio.create_task(caller.call("slow", {}))
    await callee.receive("invokefunction", function_id="slow")
    started = time.monotonic()
    engine.process.send_signal(signum)
    assert (await asyncio.wait_for(call, 5))["error"] == STOPPED
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(callee.websocket.recv(), 5)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(caller.websocket.recv(), 5)
    assert await asyncio.to_thread(engine.process.wait, 10) == 0
    assert time.monotonic() - started < 5
    assert "Shutting down" in engine.log()
    assert "Traceback" not in engine.log()


async def test_idle_engine_stops_at_once(engine_factory: Callable[..., EngineProcess]) -> None:
    engine = engine_factory(KERNEL_CONFIG)
    started = time.monotonic()
    assert engine.stop() == 0
    assert time.monotonic() - started < 3
