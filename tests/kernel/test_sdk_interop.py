"""A Python and a Node iii-sdk 0.9.0 worker call each other through the engine."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from iii import InitOptions, register_worker
from iii.iii import III

from tests.conftest import EngineProcess, node_sdk_dir

NODE_WORKER = Path(__file__).parent / "node" / "worker.mjs"
STOPPED = {"code": "invocation_stopped", "message": "Invocation stopped"}

pytestmark = pytest.mark.timeout(180)


class NodeWorker:
    """The Node worker process; ``call`` asks it to invoke a function and returns its answer."""

    def __init__(self, sdk_dir: Path, url: str) -> None:
        self.process = subprocess.Popen(
            ["node", str(NODE_WORKER), str(sdk_dir / "node_modules" / "iii-sdk" / "dist" / "index.mjs"), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "OTEL_ENABLED": "false"},
            start_new_session=True,
        )
        self._next_id = 0

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        while line := self.process.stdout.readline():
            if line.startswith("{"):
                return json.loads(line)
        raise EOFError(f"node worker exited with {self.process.wait(5)}")

    def wait_ready(self) -> None:
        assert self._read() == {"ready": True}

    def call(self, function_id: str, payload: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self._next_id += 1
        self.process.stdin.write(
            json.dumps({"id": self._next_id, "function_id": function_id, "payload": payload}) + "\n"
        )
        self.process.stdin.flush()
        answer = self._read()
        assert answer.pop("id") == self._next_id
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
        self.process.wait(5)


def _python_worker(url: str) -> III:
    return register_worker(url, InitOptions(otel={"enabled": False}, invocation_timeout_ms=10000))


@pytest.fixture
def sdk_dir() -> Path:
    found = node_sdk_dir()
    if found is None:
        pytest.skip("node and npm are not installed")
    return found


@pytest.fixture
def python_worker(kernel_engine: EngineProcess) -> Iterator[III]:
    worker = _python_worker(kernel_engine.ws_url)

    def multiply(data: dict[str, Any]) -> dict[str, Any]:
        return {"product": data["a"] * data["b"], "caller": data["_caller_worker_id"]}

    def fail(_data: Any) -> None:
        raise ValueError("python says no")

    worker.register_function({"id": "py::mul"}, multiply)
    worker.register_function({"id": "py::fail"}, fail)
    yield worker
    worker.shutdown()


@pytest.fixture
def node_worker(sdk_dir: Path, kernel_engine: EngineProcess, python_worker: III) -> Iterator[NodeWorker]:
    worker = NodeWorker(sdk_dir, kernel_engine.ws_url)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


def _node_worker_id(python_worker: III) -> str:
    workers = python_worker.list_workers()
    return next(w.id for w in workers if "node::add" in w.functions)


def test_python_calls_node(python_worker: III, node_worker: NodeWorker) -> None:
    answer = python_worker.trigger({"function_id": "node::add", "payload": {"a": 2, "b": 3}})
    assert answer == {"sum": 5, "caller": python_worker.worker_id}
    with pytest.raises(Exception, match="invocation_failed") as failure:
        python_worker.trigger({"function_id": "node::fail", "payload": {}})
    assert "node says no" in str(failure.value)


def test_node_calls_python(python_worker: III, node_worker: NodeWorker) -> None:
    answer = node_worker.call("py::mul", {"a": 6, "b": 7})
    assert answer == {"result": {"product": 42, "caller": _node_worker_id(python_worker)}}
    failure = node_worker.call("py::fail", {})["error"]
    assert failure["code"] == "invocation_failed" and failure["message"] == "python says no"
    assert "ValueError" in failure["stacktrace"]
    missing = node_worker.call("py::missing", {})["error"]
    assert missing == {"code": "function_not_found", "message": "Function py::missing not found"}


def test_node_callee_disconnects_mid_call(python_worker: III, node_worker: NodeWorker) -> None:
    started = time.monotonic()
    with pytest.raises(Exception, match="invocation_stopped"):
        python_worker.trigger({"function_id": "node::exit", "payload": {}})
    assert time.monotonic() - started < 3
    assert node_worker.process.wait(5) == 3


async def test_python_callee_disconnects_mid_call(
    kernel_engine: EngineProcess, python_worker: III, node_worker: NodeWorker
) -> None:
    entered = threading.Event()
    callee = _python_worker(kernel_engine.ws_url)

    def block(_data: Any) -> None:
        entered.set()
        time.sleep(5)

    callee.register_function({"id": "py::block"}, block)
    await asyncio.to_thread(_wait_for_function, python_worker, "py::block")
    call = asyncio.create_task(asyncio.to_thread(node_worker.call, "py::block", {}))
    assert await asyncio.to_thread(entered.wait, 5)
    started = time.monotonic()
    await asyncio.to_thread(callee.shutdown)
    assert await asyncio.wait_for(call, 3) == {"error": STOPPED}
    assert time.monotonic() - started < 3


def _wait_for_function(worker: III, function_id: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(f.function_id == function_id for f in worker.list_functions()):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{function_id} was never registered")
