"""Large and awkward payloads: the 64 MiB message limit, big round trips, unencodable data."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import EngineProcess
from tests.kernel.rawworker import RawWorker

Connect = Callable[..., Any]
LIMIT = 64 * 1024 * 1024


@pytest.mark.timeout(60)
async def test_five_mib_round_trip_between_two_workers(connect_worker: Connect) -> None:
    callee, caller = await connect_worker(max_size=None), await connect_worker(max_size=None)
    await callee.register_function("blob::reverse")
    await asyncio.sleep(0.1)
    blob = os.urandom(5 * 1024 * 1024 // 2).hex()
    call = asyncio.create_task(caller.call("blob::reverse", {"blob": blob}))
    received = await callee.serve_one(
        "blob::reverse", lambda message: {"result": message["data"]["blob"][::-1]}
    )
    assert received["data"]["blob"] == blob
    assert (await asyncio.wait_for(call, 30))["result"] == blob[::-1]


@pytest.mark.timeout(60)
async def test_over_limit_message_closes_only_that_connection(
    kernel_engine: EngineProcess, connect_worker: Connect
) -> None:
    callee, caller = await connect_worker(), await connect_worker()
    await callee.register_function("still::here")
    await asyncio.sleep(0.1)
    offender = await RawWorker.connect(kernel_engine.ws_url)  # closed by the engine, not by the fixture
    with pytest.raises(ConnectionClosed) as closed:
        await offender.send(b" " * (LIMIT + 1))
        await asyncio.wait_for(offender.websocket.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    call = asyncio.create_task(caller.call("still::here", {}))
    await callee.serve_one("still::here", lambda _m: {"result": "yes"})
    assert (await call)["result"] == "yes"


async def test_data_too_deep_to_forward_answers_serialization_error(connect_worker: Connect) -> None:
    callee, caller = await connect_worker(), await connect_worker()
    await callee.register_function("deep")
    await asyncio.sleep(0.1)
    nested = "[" * 1000 + "]" * 1000
    await caller.send(
        f'{{"type":"invokefunction","invocation_id":"deep-1","function_id":"deep","data":{nested}}}'
    )
    answer = await caller.receive("invocationresult", invocation_id="deep-1")
    assert answer["error"]["code"] == "serialization_error"
