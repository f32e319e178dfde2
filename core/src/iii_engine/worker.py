"""One worker connection: the iii v0.9.0 worker protocol as seen from the engine."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from . import protocol
from .errors import ConfigError, InvocationError, TriggerError, invocation_stopped
from .ids import random_uuid
from .invocation import Invocation
from .triggers import Trigger

if TYPE_CHECKING:
    from .engine import Engine
    from .server import WorkerSocket


class WorkerConnection:
    """A connected worker: its registrations, its pending invocations, its metadata.

    It is also the :class:`~iii_engine.triggers.TriggerOwner` of the trigger types the worker
    registered: triggers of those types are forwarded to it.
    """

    def __init__(self, engine: Engine, websocket: WorkerSocket) -> None:
        self.engine = engine
        self.websocket = websocket
        self.id = random_uuid()
        remote = websocket.remote_address
        self.ip_address: str | None = remote[0] if remote else None
        self.connected_at_ms = int(time.time() * 1000)
        self.metadata: dict[str, Any] = {"name": None, "runtime": None, "version": None, "os": None}
        self.latest_metrics: dict[str, Any] | None = None
        self.functions: set[str] = set()
        self.trigger_ids: set[str] = set()
        self.trigger_types: set[str] = set()
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.issued: set[asyncio.Task[Any]] = set()
        self.closed = False
        self._applying: asyncio.Future[None] | None = None
        self._waiting: deque[dict[str, Any]] = deque()
        self._log = engine.logger("iii::engine")

    # -- sending ---------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message (raises ConnectionClosed, or ValueError when it cannot be encoded)."""
        self.websocket.write(protocol.encode(message))
        if self.websocket.paused:
            await self.websocket.drain()

    async def call(self, invocation: Invocation) -> Any:
        """Run ``invocation`` on this worker and wait for its ``invocationresult``."""
        result = self.start_call(invocation)
        if self.websocket.paused:
            try:
                await self.websocket.drain()
            except ConnectionClosed:
                pass  # the call fails with the connection's other pending calls
        return await result

    def start_call(self, invocation: Invocation) -> asyncio.Future[Any]:
        """Send ``invocation`` to this worker; the future resolves with its ``invocationresult``
        (cancelling it forgets the call: a late result is dropped)."""
        future = self.websocket.loop.create_future()  # not get_running_loop(): a getpid() each
        if self.closed:
            future.set_exception(InvocationError("channel_send_failed", "worker connection is closed"))
            return future
        invocation_id = random_uuid()
        message: dict[str, Any] = {
            "type": "invokefunction",
            "invocation_id": invocation_id,
            "function_id": invocation.function_id,
            "data": invocation.data,
        }
        if invocation.traceparent:
            message["traceparent"] = invocation.traceparent
        if invocation.baggage:
            message["baggage"] = invocation.baggage
        try:
            self.websocket.write(protocol.encode(message))
        except ConnectionClosed as exc:
            future.set_exception(InvocationError("channel_send_failed", str(exc)))
            return future
        except ValueError as exc:
            future.set_exception(InvocationError("serialization_error", str(exc)))
            return future
        self.pending[invocation_id] = future
        future.add_done_callback(lambda _: self.pending.pop(invocation_id, None))
        return future

    # -- trigger owner (worker-owned trigger types) -------------------------------------------

    async def register_trigger(self, trigger: Trigger) -> None:
        await self._forward({"type": "registertrigger", **trigger.describe()})

    async def unregister_trigger(self, trigger: Trigger) -> None:
        await self._forward(
            {"type": "unregistertrigger", "id": trigger.id, "trigger_type": trigger.trigger_type}
        )

    async def _forward(self, message: dict[str, Any]) -> None:
        if not self.closed:
            try:
                await self.send(message)
            except ConnectionClosed:
                pass
            except ValueError as exc:
                self._log.warning("message not forwarded", type=message["type"], error=str(exc))

    # -- receiving ---------------------------------------------------------------------------

    async def serve(self) -> None:
        """Send ``workerregistered``, then handle every message as it arrives until the socket
        closes. Invocations run concurrently; registrations are applied in arrival order."""
        await self.send({"type": "workerregistered", "worker_id": self.id})
        self.websocket.attach(self._on_frame)
        try:
            await self.websocket.wait_closed()
        finally:
            if self._applying is not None:
                self._applying.cancel()

    def _on_frame(self, data: bytes, text: bool) -> None:
        """One complete message, straight from the socket's parser (must not raise)."""
        if not text and data[:4] in protocol.TELEMETRY_PREFIXES:
            self.engine.telemetry_frame(self, data[:4].decode(), data[4:])
            return
        try:
            message = protocol.decode(data)
        except ValueError as exc:
            if data.strip():
                self._log.warning("json decode error", peer=self.ip_address, error=str(exc))
            return
        if not isinstance(message, dict):
            self._log.warning("message is not a JSON object", peer=self.ip_address)
            return
        if self._applying is not None:  # an earlier registration is still being applied
            self._waiting.append(message)
            return
        work = self._handle(message)
        if work is not None:
            self._applying = asyncio.ensure_future(self._apply_in_order(work))

    async def _apply_in_order(self, work: Awaitable[None]) -> None:
        """Await ``work``, then handle the messages that arrived meanwhile, in order."""
        try:
            while True:
                try:
                    await work
                except ConnectionClosed:
                    return
                except Exception:
                    self._log.exception("failed to handle message", worker_id=self.id)
                while self._waiting:
                    pending = self._handle(self._waiting.popleft())
                    if pending is not None:
                        work = pending
                        break
                else:
                    return
        finally:
            self._applying = None

    def _handle(self, message: dict[str, Any]) -> Awaitable[None] | None:
        """Handle one message; returns the awaitable rest of the work when there is some."""
        try:
            return self._dispatch(message)
        except Exception:
            self._log.exception("failed to handle message", type=message.get("type"), worker_id=self.id)
            return None

    def _dispatch(self, message: dict[str, Any]) -> Awaitable[None] | None:
        kind = message.get("type")
        if kind == "invocationresult":
            self._on_result(message)
        elif kind == "invokefunction":
            self._on_invoke(message)
        elif kind == "registerfunction":
            self._on_register_function(message)
        elif kind == "unregisterfunction":
            if isinstance(message.get("id"), str):
                self.engine.unregister_function(message["id"])
        elif kind == "registertrigger":
            return self._on_register_trigger(message)
        elif kind == "unregistertrigger":
            if isinstance(message.get("id"), str):
                return self.engine.unregister_trigger(message["id"])
        elif kind == "registertriggertype":
            return self._on_register_trigger_type(message)
        elif kind == "unregistertriggertype":
            type_id = message.get("id")
            if isinstance(type_id, str) and type_id in self.trigger_types:
                self.trigger_types.discard(type_id)
                self.engine.unregister_trigger_type(type_id)
        elif kind == "ping":
            return self.send({"type": "pong"})
        elif kind == "triggerregistrationresult":
            if message.get("error"):
                self._log.warning(
                    "trigger registration failed on its owner",
                    trigger_id=message.get("id"),
                    error=message.get("error"),
                )
        elif kind not in ("registerservice", "pong", "workerregistered"):
            self._log.warning("unknown message type ignored", type=kind, worker_id=self.id)
        return None

    def _on_result(self, message: dict[str, Any]) -> None:
        invocation_id = message.get("invocation_id")
        if not isinstance(invocation_id, str):
            self._log.warning("invocationresult without a string invocation_id dropped", worker_id=self.id)
            return
        future = self.pending.get(invocation_id) or self.engine.find_pending(invocation_id)
        if future is None or future.done():
            self._log.debug("result for unknown invocation dropped", invocation_id=invocation_id)
            return
        error = message.get("error")
        if error is not None:
            future.set_exception(InvocationError.from_body(error))
        else:
            future.set_result(message.get("result"))

    def _on_invoke(self, message: dict[str, Any]) -> None:
        function_id = message.get("function_id")
        if not isinstance(function_id, str):
            self._log.warning("invokefunction without function_id dropped", worker_id=self.id)
            return
        data = message.get("data")
        invocation_id = message.get("invocation_id")
        action = message.get("action")
        action_type = action.get("type") if isinstance(action, dict) else None
        if action_type == "enqueue":
            task = asyncio.create_task(self._enqueue(message, function_id, data, invocation_id, action))
        else:
            if isinstance(data, dict):
                data["_caller_worker_id"] = self.id
            invocation = Invocation(
                function_id,
                data,
                traceparent=message.get("traceparent"),
                baggage=message.get("baggage"),
                caller_worker_id=self.id,
                source="worker",
            )
            reply_to = invocation_id if isinstance(invocation_id, str) and action_type != "void" else None
            task = asyncio.create_task(self._invoke(invocation, reply_to))
        self.issued.add(task)
        task.add_done_callback(self.issued.discard)

    async def _invoke(self, invocation: Invocation, reply_to: str | None) -> None:
        try:
            result = await self.engine.invoke_invocation(invocation)
        except InvocationError as exc:
            if reply_to is not None:
                await self._reply(reply_to, invocation, error=exc.to_body())
            return
        except Exception as exc:
            self._log.exception("invocation failed inside the engine", function=invocation.function_id)
            if reply_to is not None:
                await self._reply(
                    reply_to, invocation, error={"code": "invocation_error", "message": str(exc)}
                )
            return
        if reply_to is not None:
            await self._reply(reply_to, invocation, result=result)

    async def _enqueue(
        self, message: dict[str, Any], function_id: str, data: Any, invocation_id: Any, action: dict[str, Any]
    ) -> None:
        invocation = Invocation(
            function_id, data, traceparent=message.get("traceparent"), baggage=message.get("baggage")
        )
        try:
            queue = action.get("queue")
            if not isinstance(queue, str):
                raise InvocationError("enqueue_error", "enqueue action needs a 'queue' name")
            receipt = await self.engine.enqueue(
                queue, function_id, data, invocation.traceparent, invocation.baggage
            )
        except InvocationError as exc:
            if isinstance(invocation_id, str):
                await self._reply(invocation_id, invocation, error=exc.to_body())
            return
        if isinstance(invocation_id, str):
            await self._reply(invocation_id, invocation, result={"messageReceiptId": receipt})

    async def _reply(self, invocation_id: str, invocation: Invocation, **outcome: Any) -> None:
        if self.closed:
            return
        message = protocol.invocation_result(
            invocation_id,
            invocation.function_id,
            traceparent=invocation.traceparent,
            baggage=invocation.baggage,
            **outcome,
        )
        try:
            await self.send(message)
        except ConnectionClosed:
            pass
        except ValueError as exc:
            error = {"code": "serialization_error", "message": str(exc)}
            await self._reply(invocation_id, invocation, error=error)

    def _on_register_function(self, message: dict[str, Any]) -> None:
        function_id = message.get("id")
        if not isinstance(function_id, str):
            self._log.warning("registerfunction without id dropped", worker_id=self.id)
            return
        described = {
            "description": message.get("description"),
            "request_format": message.get("request_format"),
            "response_format": message.get("response_format"),
            "metadata": message.get("metadata"),
        }
        invocation = message.get("invocation")
        if invocation is not None:
            try:
                handler = self.engine.remote_function(self, function_id, invocation)
            except ConfigError as exc:
                self._log.error("HTTP-invoked function refused", function=function_id, error=exc.message)
                return
            if handler is None:
                self._log.error(
                    "HTTP-invoked function dropped: no module handles 'invocation' "
                    "(add modules::http_functions::HttpFunctionsModule)",
                    function=function_id,
                )
                return
            start = None
        else:
            handler, start = self.call, self.start_call
        self.functions.add(function_id)
        self.engine.register_function(function_id, handler, worker_id=self.id, start=start, **described)

    async def _on_register_trigger(self, message: dict[str, Any]) -> None:
        trigger_id, trigger_type, function_id = (
            message.get("id"),
            message.get("trigger_type"),
            message.get("function_id"),
        )
        if not (
            isinstance(trigger_id, str) and isinstance(trigger_type, str) and isinstance(function_id, str)
        ):
            self._log.warning(
                "registertrigger without id, trigger_type or function_id dropped", worker_id=self.id
            )
            return
        config = message.get("config")
        trigger = Trigger(
            trigger_id, trigger_type, function_id, {} if config is None else config, worker_id=self.id
        )
        try:
            await self.engine.register_trigger(trigger)
        except TriggerError as exc:
            await self._forward(
                {
                    "type": "triggerregistrationresult",
                    "id": trigger_id,
                    "trigger_type": trigger_type,
                    "function_id": function_id,
                    "error": {"code": "trigger_registration_failed", "message": str(exc)},
                }
            )
            return
        self.trigger_ids.add(trigger_id)

    async def _on_register_trigger_type(self, message: dict[str, Any]) -> None:
        type_id = message.get("id")
        if not isinstance(type_id, str):
            return
        description = message.get("description")
        if self.engine.register_trigger_type(
            type_id, description if isinstance(description, str) else "", self, worker_id=self.id
        ):
            self.trigger_types.add(type_id)
            await self.engine.replay_triggers(type_id)

    # -- describing ------------------------------------------------------------------------------

    def update_metadata(self, data: dict[str, Any]) -> None:
        """Apply an ``engine::workers::register`` call's fields (reference rules)."""
        runtime = data.get("runtime")
        self.metadata["runtime"] = runtime if isinstance(runtime, str) else "unknown"
        version = data.get("version")
        self.metadata["version"] = version if isinstance(version, str) else None
        for key in ("name", "os"):
            if isinstance(data.get(key), str):
                self.metadata[key] = data[key]
        pid = data.get("pid")
        if isinstance(pid, int) and not isinstance(pid, bool) and pid >= 0:
            self.metadata["pid"] = pid
        telemetry = data.get("telemetry")
        if isinstance(telemetry, dict):
            self.metadata["telemetry"] = {
                k: telemetry.get(k) for k in ("language", "project_name", "framework")
            }

    def describe(self) -> dict[str, Any]:
        """The item shape of ``engine::workers::list``."""
        described: dict[str, Any] = {
            "id": self.id,
            "name": self.metadata.get("name"),
            "runtime": self.metadata.get("runtime"),
            "version": self.metadata.get("version"),
            "os": self.metadata.get("os"),
            "ip_address": self.ip_address,
            "status": "connected",
            "connected_at_ms": self.connected_at_ms,
            "function_count": len(self.functions),
            "functions": sorted(self.functions),
            "active_invocations": len(self.pending) + len(self.issued),
            "latest_metrics": self.latest_metrics,
        }
        if "pid" in self.metadata:
            described["pid"] = self.metadata["pid"]
        if "telemetry" in self.metadata:
            described["telemetry"] = self.metadata["telemetry"]
        return described

    def fail_pending(self) -> None:
        """Fail every invocation dispatched to this worker with ``invocation_stopped``."""
        for future in self.pending.values():
            if not future.done():
                future.set_exception(invocation_stopped())
        self.pending.clear()
