"""hypothesis: hostile frames on the worker port never crash the engine nor disturb other workers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from tests.conftest import EngineProcess, start_engine
from tests.kernel.conftest import KERNEL_CONFIG
from tests.kernel.rawworker import RawWorker

MESSAGE_TYPES = [
    "registerfunction", "unregisterfunction", "registerservice", "registertriggertype",
    "unregistertriggertype", "registertrigger", "unregistertrigger", "triggerregistrationresult",
    "invokefunction", "invocationresult", "ping", "pong", "workerregistered", "RegisterFunction", "",
]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
protocol_shaped = st.fixed_dictionaries(
    {"type": st.sampled_from(MESSAGE_TYPES)},
    optional={
        key: json_values | st.text(max_size=12)
        for key in ("id", "function_id", "trigger_type", "invocation_id", "description", "worker_id", "queue")
    }
    | {
        key: json_values
        for key in ("data", "config", "result", "error", "metadata", "invocation", "traceparent", "baggage")
    }
    | {
        "action": st.fixed_dictionaries({"type": st.sampled_from(["void", "enqueue", "other"])}) | json_values
    },
)
frames = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    json_values.map(json.dumps),
    protocol_shaped.map(json.dumps),
    protocol_shaped.map(lambda message: json.dumps(message).encode()),
    st.sampled_from([b"OTLP", b"MTRC", b"LOGS"]).flatmap(
        lambda prefix: st.binary(max_size=50).map(prefix.__add__)
    ),
    st.integers(min_value=1, max_value=3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(min_value=1, max_value=3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)


class Bystanders:
    """Two well-behaved workers: one serves ``bystander::echo``, the other calls it."""

    def __init__(self, callee: RawWorker, caller: RawWorker) -> None:
        self.callee = callee
        self.caller = caller

    async def still_served(self) -> None:
        payload = {"n": str(uuid.uuid4())}
        call = asyncio.create_task(self.caller.call("bystander::echo", payload))
        await self.callee.serve_one("bystander::echo", lambda message: {"result": message["data"]["n"]})
        assert (await call)["result"] == payload["n"]


@pytest.fixture(scope="module")
def fuzzed_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    engine = start_engine(KERNEL_CONFIG, tmp_path_factory.mktemp("fuzz"))
    yield engine
    engine.stop()


@pytest.fixture
async def bystanders(fuzzed_engine: EngineProcess) -> AsyncIterator[Bystanders]:
    callee, caller = (
        await RawWorker.connect(fuzzed_engine.ws_url),
        await RawWorker.connect(fuzzed_engine.ws_url),
    )
    await callee.register_function("bystander::echo")
    await asyncio.sleep(0.1)
    yield Bystanders(callee, caller)
    await callee.close()
    await caller.close()


async def _send_all(url: str, batch: list[str | bytes]) -> None:
    """Send ``batch`` on a fresh connection, then check the connection still answers a ping."""
    async with connect(url, max_size=None) as websocket:
        for frame in batch:
            await websocket.send(frame)
        await websocket.send('{"type": "ping"}')
        async with asyncio.timeout(5):
            while json.loads(await websocket.recv()).get("type") != "pong":
                pass


def _engine_log_is_clean(engine: EngineProcess, since: int) -> None:
    """The engine runs and logged no traceback since byte ``since`` of its log."""
    assert engine.process.poll() is None, engine.log()
    fresh = engine.log_path.read_bytes()[since:].decode(errors="replace")
    assert "Traceback" not in fresh, fresh[-3000:]


@pytest.mark.timeout(300)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=8))
async def test_arbitrary_frames(
    fuzzed_engine: EngineProcess, bystanders: Bystanders, batch: list[Any]
) -> None:
    since = fuzzed_engine.log_path.stat().st_size
    await _send_all(fuzzed_engine.ws_url, batch)
    await bystanders.still_served()
    _engine_log_is_clean(fuzzed_engine, since)


async def test_invalid_utf8_text_frame_is_ignored_like_bad_json(
    fuzzed_engine: EngineProcess, bystanders: Bystanders
) -> None:
    since = fuzzed_engine.log_path.stat().st_size
    async with connect(fuzzed_engine.ws_url) as websocket:
        await websocket.send(b"\xff\xfe", text=True)
        await websocket.send('{"type": "ping"}')
        async with asyncio.timeout(5):
            while json.loads(await websocket.recv()).get("type") != "pong":
                pass
    await bystanders.still_served()
    _engine_log_is_clean(fuzzed_engine, since)
    assert "json decode error" in fuzzed_engine.log_path.read_bytes()[since:].decode()
