"""Test helpers: a raw protocol client (exact control over traceparent, baggage and telemetry
frames), SDK worker subprocesses, engine configs and polling."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import websockets

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def otel_config(**options: Any) -> str:
    """A config with only the OtelModule (memory exporter, metrics on, Prometheus on {PROM_PORT})."""
    config = {
        "enabled": True,
        "service_name": "otel-test",
        "exporter": "memory",
        "sampling_ratio": 1.0,
        "metrics_enabled": True,
        "prometheus_port": "{PROM_PORT}",
        "logs_console_output": True,
        **options,
    }
    module = {"class": "modules::observability::OtelModule", "config": config}
    text = "port: {ENGINE_PORT}\nmodules:\n  - " + json.dumps(module) + "\n"
    return text.replace('"{PROM_PORT}"', "{PROM_PORT}")


class RawClient:
    """A worker speaking the protocol directly: calls with explicit trace context, functions
    answered by coroutines, binary telemetry frames."""

    def __init__(self) -> None:
        self.ws: Any = None
        self.worker_id: str | None = None
        self.received: list[dict[str, Any]] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._handlers: dict[str, Handler] = {}
        self._reader: asyncio.Task[None] | None = None
        self._registered = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def connect(cls, url: str) -> RawClient:
        client = cls()
        client.ws = await websockets.connect(url, max_size=None)
        client._reader = asyncio.create_task(client._read())
        await asyncio.wait_for(client._registered.wait(), 5)
        return client

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame)
            kind = message.get("type")
            if kind == "workerregistered":
                self.worker_id = message["worker_id"]
                self._registered.set()
            elif kind == "invocationresult":
                future = self._pending.pop(message.get("invocation_id"), None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif kind == "invokefunction":
                self.received.append(message)
                task = asyncio.create_task(self._answer(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _answer(self, message: dict[str, Any]) -> None:
        result = await self._handlers[message["function_id"]](message)
        if message.get("invocation_id"):
            reply = {
                "type": "invocationresult",
                "invocation_id": message["invocation_id"],
                "function_id": message["function_id"],
                "result": result,
            }
            await self.ws.send(json.dumps(reply))

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def call(
        self,
        function_id: str,
        data: Any = None,
        *,
        traceparent: str | None = None,
        baggage: str | None = None,
        action: dict[str, Any] | None = None,
        wait_s: float = 10.0,
    ) -> dict[str, Any]:
        """Invoke and return the whole ``invocationresult`` message."""
        invocation_id = str(uuid.uuid4())
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[invocation_id] = future
        message: dict[str, Any] = {
            "type": "invokefunction",
            "invocation_id": invocation_id,
            "function_id": function_id,
            "data": {} if data is None else data,
        }
        if traceparent:
            message["traceparent"] = traceparent
        if baggage:
            message["baggage"] = baggage
        if action:
            message["action"] = action
        await self.send(message)
        return await asyncio.wait_for(future, wait_s)

    async def result(self, function_id: str, data: Any = None, **context: Any) -> Any:
        """Invoke and return the result; an error reply raises AssertionError."""
        reply = await self.call(function_id, data, **context)
        assert "error" not in reply, reply
        return reply.get("result")

    async def register_function(self, function_id: str, handler: Handler) -> None:
        self._handlers[function_id] = handler
        await self.send({"type": "registerfunction", "id": function_id})

    async def register_trigger(self, trigger_type: str, function_id: str, config: Any) -> str:
        trigger_id = str(uuid.uuid4())
        await self.send(
            {
                "type": "registertrigger",
                "id": trigger_id,
                "trigger_type": trigger_type,
                "function_id": function_id,
                "config": config,
            }
        )
        return trigger_id

    async def frame(self, prefix: bytes, document: Any) -> None:
        await self.ws.send(
            prefix + (document if isinstance(document, bytes) else json.dumps(document).encode())
        )


async def poll(check: Callable[[], Awaitable[Any]], within_s: float = 10.0, interval: float = 0.1) -> Any:
    """Await ``check()`` until it returns something truthy; the last value otherwise."""
    deadline = time.monotonic() + within_s
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


class SdkWorker:
    """An iii-sdk worker in its own process (the SDK's telemetry connection is per process and
    goes to ``III_URL``), stopped by PID."""

    def __init__(self, script: str, url: str, workdir: Path) -> None:
        path = workdir / f"worker-{uuid.uuid4().hex[:8]}.py"
        path.write_text(script)
        self.log_path = path.with_suffix(".log")
        self.process = subprocess.Popen(
            [sys.executable, str(path)],
            env={**os.environ, "III_URL": url, "OTEL_BSP_SCHEDULE_DELAY": "200"},
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def hex_id(length: int) -> str:
    return uuid.uuid4().hex[:length] if length <= 32 else ""


def span_frame(service: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    """An ``OTLP`` frame document as the SDKs write it (hex ids, string times)."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "iii-python-sdk", "version": "0.9.0"}, "spans": spans}],
            }
        ]
    }


def sdk_span(trace_id: str, span_id: str, parent: str | None, name: str, **extra: Any) -> dict[str, Any]:
    now = time.time_ns()
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(now - 2_000_000),
        "endTimeUnixNano": str(now),
        "attributes": [{"key": "http.status_code", "value": {"intValue": 200}}],
        "events": [],
        "links": [],
        "status": {"code": 0, "message": ""},
        **extra,
    }
    if parent:
        span["parentSpanId"] = parent
    return span
