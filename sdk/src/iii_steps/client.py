"""The asyncio worker client: one WebSocket to the engine, speaking the worker protocol.

It keeps a registry of everything registered (trigger types, functions, triggers) and sends it
again, unchanged and with the same trigger ids, every time it (re)connects. It reconnects with
exponential back-off after *any* close — including clean closes 1000/1001 — until
:meth:`Worker.stop`. Incoming invocations run concurrently, each in its own task and trace span.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import platform
import random
import traceback
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal, Protocol

import orjson
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .channels import MAX_MESSAGE_BYTES, ChannelReader, ChannelWriter, _ChannelEnd, resolve_channel_refs
from .connection import EngineSocket
from .errors import InvocationTimeout, RemoteError
from .pending import InvocationIds, PendingCalls
from .tracing import TraceContext, current_trace, set_current_trace

log = logging.getLogger("iii_steps.worker")

Handler = Callable[[Any], Awaitable[Any]] | Callable[[Any], Any]
ConnectionState = Literal["idle", "connecting", "connected", "reconnecting", "stopped", "failed"]

try:
    SDK_VERSION = version("iii-steps")
except PackageNotFoundError:  # running from a source tree
    SDK_VERSION = "0.0.0"


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Back-off between connection attempts: ``initial_delay * multiplier**attempt``, capped, ± jitter."""

    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.3
    max_attempts: int | None = None  # None: retry forever

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        capped = min(self.initial_delay * self.multiplier**attempt, self.max_delay)
        return max(0.0, capped * (1 + self.jitter * (2 * random.random() - 1)))


@dataclass(frozen=True, slots=True)
class Trigger:
    """A trigger as a custom trigger type's owner sees it."""

    id: str
    trigger_type: str
    function_id: str
    config: Any


class TriggerTypeHandler(Protocol):
    """The owner of a custom trigger type: told when triggers of its type come and go."""

    async def register_trigger(self, trigger: Trigger) -> None: ...

    async def unregister_trigger(self, trigger: Trigger) -> None: ...


@dataclass(slots=True)
class _Function:
    message: bytes
    handler: Handler
    is_async: bool


@dataclass(slots=True)
class _Outbox:
    """Messages produced while disconnected, sent in order on the next connect (oldest dropped)."""

    limit: int
    items: deque[tuple[str | None, bytes]] = field(default_factory=deque)

    def put(self, invocation_id: str | None, payload: bytes) -> None:
        if len(self.items) >= self.limit:
            log.warning("outbox full (%d messages): dropping the oldest", self.limit)
            self.items.popleft()
        self.items.append((invocation_id, payload))

    def ids(self) -> set[str]:
        return {invocation_id for invocation_id, _ in self.items if invocation_id is not None}


def _encode_default(value: Any) -> Any:
    if isinstance(value, _ChannelEnd):
        return value.ref
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(message: Any) -> bytes:
    """One protocol message as JSON bytes."""
    return orjson.dumps(message, default=_encode_default, option=orjson.OPT_NON_STR_KEYS)


class Worker:
    """A worker connected to an iii engine.

    >>> worker = Worker("ws://127.0.0.1:49134", name="orders")
    >>> worker.register_function("orders::create", create_order)
    >>> await worker.start()
    >>> await worker.invoke("orders::create", {"sku": "A-1"})
    """

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        invocation_timeout: float = 30.0,
        reconnect: ReconnectPolicy | None = None,
        max_queued: int = 1000,
        project_name: str | None = None,
    ) -> None:
        self.url = url
        self.name = name or f"{platform.node()}:{os.getpid()}"
        self.invocation_timeout = invocation_timeout
        self.reconnect = reconnect or ReconnectPolicy()
        self.project_name = project_name
        self.worker_id: str | None = None
        self.state: ConnectionState = "idle"
        self.engine_functions: frozenset[str] = frozenset()
        self.connections = 0
        self.last_close_code: int | None = None
        self._ws: EngineSocket | None = None
        self._ready = asyncio.Event()
        self._functions: dict[str, _Function] = {}
        self._trigger_types: dict[str, tuple[bytes, TriggerTypeHandler]] = {}
        self._triggers: dict[str, bytes] = {}
        self._pending = PendingCalls()
        self._invocation_ids = InvocationIds()
        self._outbox = _Outbox(max_queued)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, *, wait: bool = True, timeout: float | None = 30.0) -> None:  # noqa: ASYNC109
        """Start connecting (and reconnecting). With ``wait``, return once connected."""
        if self._runner is None:
            self._stopping = False
            self._loop = asyncio.get_running_loop()
            self._runner = asyncio.create_task(self._run(), name=f"iii-steps worker {self.url}")
        if wait:
            await self.wait_connected(timeout)

    async def wait_connected(self, timeout: float | None = 30.0) -> None:  # noqa: ASYNC109
        """Wait until connected and registered (raises ``ConnectionError`` on failure or timeout)."""
        waiter = asyncio.ensure_future(self._ready.wait())
        runner = self._runner
        watched: set[asyncio.Future[Any]] = {waiter} if runner is None else {waiter, runner}
        await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not self._ready.is_set():
            raise ConnectionError(f"could not connect to {self.url} (state: {self.state})")

    async def stop(self) -> None:
        """Close the connection for good; pending calls fail, running handlers are cancelled."""
        self._stopping = True
        self._ready.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        self._fail_pending(RemoteError("invocation_stopped", "the worker is stopping"), keep=set())
        self.state = "stopped"

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    # -- registrations -------------------------------------------------------------------------

    def register_function(
        self,
        function_id: str,
        handler: Handler,
        *,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        request_format: Any = None,
        response_format: Any = None,
    ) -> None:
        """Serve ``function_id`` with ``handler(data)`` (async, or sync — then run in a thread).

        Registering an id again replaces the handler.
        """
        if not isinstance(function_id, str) or not function_id.strip():
            raise ValueError("function id must be a non-empty string")
        if not callable(handler):
            raise TypeError(f"handler for {function_id!r} must be callable, got {type(handler).__name__}")
        message: dict[str, Any] = {"type": "registerfunction", "id": function_id}
        for key, value in (
            ("description", description),
            ("metadata", metadata),
            ("request_format", request_format),
            ("response_format", response_format),
        ):
            if value is not None:
                message[key] = value
        payload = encode(message)
        self._functions[function_id] = _Function(payload, handler, inspect.iscoroutinefunction(handler))
        self._post(payload)

    def unregister_function(self, function_id: str) -> None:
        if self._functions.pop(function_id, None) is not None:
            self._post(encode({"type": "unregisterfunction", "id": function_id}))

    def register_trigger(
        self, trigger_type: str, function_id: str, config: Any = None, *, trigger_id: str | None = None
    ) -> str:
        """Bind ``function_id`` to a trigger; returns the trigger id (kept across reconnects)."""
        trigger_id = trigger_id or str(uuid.uuid4())
        payload = encode(
            {
                "type": "registertrigger",
                "id": trigger_id,
                "trigger_type": trigger_type,
                "function_id": function_id,
                "config": {} if config is None else config,
            }
        )
        self._triggers[trigger_id] = payload
        self._post(payload)
        return trigger_id

    def unregister_trigger(self, trigger_id: str) -> None:
        if self._triggers.pop(trigger_id, None) is not None:
            self._post(encode({"type": "unregistertrigger", "id": trigger_id}))

    def register_trigger_type(self, type_id: str, description: str, handler: TriggerTypeHandler) -> None:
        """Own the custom trigger type ``type_id``: ``handler`` hears about its triggers."""
        payload = encode({"type": "registertriggertype", "id": type_id, "description": description})
        self._trigger_types[type_id] = (payload, handler)
        self._post(payload)

    def unregister_trigger_type(self, type_id: str) -> None:
        if self._trigger_types.pop(type_id, None) is not None:
            self._post(encode({"type": "unregistertriggertype", "id": type_id}))

    # -- calls ---------------------------------------------------------------------------------

    async def invoke(self, function_id: str, data: Any = None, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """Call ``function_id`` and return its result (``None`` for "no result").

        Raises :class:`RemoteError` with the error body's code, or :class:`InvocationTimeout`.
        """
        invocation_id = self._invocation_ids()
        seconds = self.invocation_timeout if timeout is None else timeout
        future = self._pending.add(invocation_id, function_id, seconds)
        message = {
            "type": "invokefunction",
            "invocation_id": invocation_id,
            "function_id": function_id,
            "data": data,
        }
        _add_trace(message)
        try:
            await self._send(encode(message), invocation_id)
            return await future
        finally:
            self._pending.pop(invocation_id)

    async def invoke_void(self, function_id: str, data: Any = None) -> None:
        """Call ``function_id`` without waiting for (or receiving) its outcome."""
        await self._send(self._void_message(function_id, data), None)

    def post_void(self, function_id: str, data: Any = None) -> None:
        """:meth:`invoke_void` from synchronous code — also from another thread, such as a sync
        handler's — sent in the background, in order."""
        payload = self._void_message(function_id, data)
        loop = self._loop
        if loop is not None and _running_loop() is not loop:
            loop.call_soon_threadsafe(self._post_payload, payload)
        else:
            self._post_payload(payload)

    def _post_payload(self, payload: bytes) -> None:
        if self._ws is None:
            self._outbox.put(None, payload)
        else:
            self._spawn(self._send(payload, None))

    async def enqueue_to(self, queue: str, function_id: str, data: Any = None) -> str:
        """Put a call to ``function_id`` on the named queue ``queue``; returns the receipt id."""
        invocation_id = self._invocation_ids()
        future = self._pending.add(invocation_id, function_id, self.invocation_timeout)
        message = {
            "type": "invokefunction",
            "invocation_id": invocation_id,
            "function_id": function_id,
            "data": data,
            "action": {"type": "enqueue", "queue": queue},
        }
        _add_trace(message)
        try:
            await self._send(encode(message), invocation_id)
            result = await future
        finally:
            self._pending.pop(invocation_id)
        return result["messageReceiptId"] if isinstance(result, dict) else result

    async def create_channel(self, buffer_size: int | None = None) -> tuple[ChannelWriter, ChannelReader]:
        """A new data channel: a writer and a reader (pass either's ``.ref`` to another function)."""
        refs = await self.invoke("engine::channels::create", {"buffer_size": buffer_size})
        return ChannelWriter(self.url, refs["writer"]), ChannelReader(self.url, refs["reader"])

    def _void_message(self, function_id: str, data: Any) -> bytes:
        message = {
            "type": "invokefunction",
            "function_id": function_id,
            "data": data,
            "action": {"type": "void"},
        }
        _add_trace(message)
        return encode(message)

    # -- sending -------------------------------------------------------------------------------

    async def _send(self, payload: bytes, invocation_id: str | None) -> None:
        ws = self._ws
        if ws is None:
            self._outbox.put(invocation_id, payload)
            return
        try:
            await ws.send_text(payload)
        except ConnectionClosed:
            self._outbox.put(invocation_id, payload)

    def _post(self, payload: bytes) -> None:
        """Send a registration change now if connected; the registry resends it on connect anyway."""
        if self._ws is not None:
            self._spawn(self._send_registration(self._ws, payload))

    @staticmethod
    async def _send_registration(ws: EngineSocket, payload: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send_text(payload)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    # -- connection loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            self.state = "connecting" if self.connections == 0 else "reconnecting"
            try:
                ws = await websockets.connect(
                    self.url,
                    compression=None,
                    proxy=None,
                    max_size=MAX_MESSAGE_BYTES,
                    max_queue=None,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                    create_connection=EngineSocket,
                )
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
                if isinstance(exc, InvalidURI) or self._out_of_attempts(attempt):
                    self.state = "failed"
                    log.error("giving up connecting to %s: %s", self.url, exc)
                    return
                delay = self.reconnect.delay(attempt)
                log.warning("cannot connect to %s (%s); retrying in %.2fs", self.url, exc, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            attempt = 0
            await self._serve_connection(ws)
            self.last_close_code = ws.close_code
            if self._stopping:
                return
            delay = self.reconnect.delay(attempt)
            log.warning("connection to %s closed (%s); reconnecting in %.2fs", self.url, ws.close_code, delay)
            attempt += 1
            await asyncio.sleep(delay)

    def _out_of_attempts(self, attempt: int) -> bool:
        return self.reconnect.max_attempts is not None and attempt >= self.reconnect.max_attempts

    async def _serve_connection(self, ws: EngineSocket) -> None:
        try:
            await self._register_all(ws)
            self.connections += 1
            self.state = "connected"
            self._spawn(self._discover_engine_functions())
            await self._read(ws)
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            self._ready.clear()
            self.worker_id = None
            self._fail_pending(
                RemoteError(
                    "invocation_stopped", "connection to the engine closed before the result arrived"
                ),
                keep=self._outbox.ids(),
            )
            await ws.close()

    def _registrations(self) -> dict[tuple[str, str], bytes]:
        """Everything registered, in the order it must be sent: trigger types, functions, triggers."""
        registrations = {
            ("triggertype", type_id): payload for type_id, (payload, _) in self._trigger_types.items()
        }
        registrations.update(
            {("function", fid): function.message for fid, function in self._functions.items()}
        )
        registrations.update(
            {("trigger", trigger_id): payload for trigger_id, payload in self._triggers.items()}
        )
        return registrations

    async def _register_all(self, ws: EngineSocket) -> None:
        """Send every registration, then the outbox (PROTOCOL §13.1); then make ``ws`` the live socket
        and send the metadata call. Changes made meanwhile are caught up before going live."""
        sent: dict[tuple[str, str], bytes] = {}
        while True:
            current = self._registrations()
            for kind, key in sent.keys() - current.keys():
                await ws.send_text(encode({"type": f"unregister{kind}", "id": key}))
            for registration, payload in current.items():
                if sent.get(registration) != payload:
                    await ws.send_text(payload)
            sent = current
            while self._outbox.items:
                _, payload = self._outbox.items.popleft()
                await ws.send_text(payload)
            if self._registrations() == sent:
                break
        self._ws = ws
        await ws.send_text(encode(self._metadata_message()))

    def _metadata_message(self) -> dict[str, Any]:
        return {
            "type": "invokefunction",
            "function_id": "engine::workers::register",
            "action": {"type": "void"},
            "data": {
                "runtime": "python",
                "version": SDK_VERSION,
                "name": self.name,
                "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
                "pid": os.getpid(),
                "telemetry": {
                    "language": os.environ.get("LANG", "").split(".")[0] or None,
                    "project_name": self.project_name,
                    "framework": "iii-steps",
                },
            },
        }

    async def _discover_engine_functions(self) -> None:
        """Learn which engine functions exist (e.g. ``engine::log::*``) once per connection."""
        try:
            listed = await self.invoke("engine::functions::list", {"include_internal": True}, timeout=10.0)
        except (RemoteError, InvocationTimeout) as exc:
            log.debug("engine::functions::list failed: %s", exc)
            return
        functions = listed.get("functions", []) if isinstance(listed, dict) else []
        self.engine_functions = frozenset(f["function_id"] for f in functions if isinstance(f, dict))

    def _fail_pending(self, error: Exception, *, keep: set[str]) -> None:
        for invocation_id, future in self._pending.items():
            if invocation_id not in keep and not future.done():
                future.set_exception(error)
                future.exception()  # its caller may be cancelled meanwhile: do not log it as unretrieved

    # -- receiving -----------------------------------------------------------------------------

    async def _read(self, ws: EngineSocket) -> None:
        """Handle every message straight from the socket's parser until the connection closes."""
        ws.attach(lambda frame: self._on_frame(ws, frame))
        await ws.wait_closed()

    def _on_frame(self, ws: EngineSocket, frame: bytes) -> None:
        """One message from the engine (runs inside the socket's ``data_received``: never raises)."""
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            log.warning("undecodable frame from the engine ignored: %r", frame[:200])
            return
        if not isinstance(message, dict):
            return
        try:
            self._dispatch(ws, message)
        except Exception:
            log.exception("message from the engine not handled: %r", frame[:200])

    def _dispatch(self, ws: EngineSocket, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "invocationresult":
            self._on_result(message)
        elif kind == "invokefunction":
            task = asyncio.ensure_future(self._serve_invocation(ws, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind == "workerregistered":
            self.worker_id = message.get("worker_id")
            self._ready.set()
            log.info("connected to %s as worker %s", self.url, self.worker_id)
        elif kind in ("registertrigger", "unregistertrigger"):
            self._spawn(self._on_trigger_change(ws, kind, message))

    def _on_result(self, message: dict[str, Any]) -> None:
        future = self._pending.pop(message.get("invocation_id"))
        if future is None or future.done():
            return
        error = message.get("error")
        if error is not None:
            future.set_exception(RemoteError.from_body(error))
        else:
            future.set_result(message.get("result"))

    async def _serve_invocation(self, ws: EngineSocket, message: dict[str, Any]) -> None:
        function_id = message.get("function_id")
        invocation_id = message.get("invocation_id")
        function = self._functions.get(function_id)  # type: ignore[arg-type]
        trace = TraceContext.child_of(message.get("traceparent"), message.get("baggage"))
        reply: dict[str, Any] = {
            "type": "invocationresult",
            "invocation_id": invocation_id,
            "function_id": function_id,
        }
        if function is None:
            reply["error"] = {"code": "function_not_found", "message": f"Function '{function_id}' not found"}
        else:
            set_current_trace(trace)
            data = message.get("data")
            if isinstance(data, (dict, list)):
                data = resolve_channel_refs(self.url, data)
            try:
                if function.is_async:
                    result = await function.handler(data)  # type: ignore[misc]
                else:
                    result = await asyncio.to_thread(function.handler, data)
                    if inspect.isawaitable(result):
                        result = await result
                if result is not None:
                    reply["result"] = result
            except Exception as exc:
                log.exception("handler of %s failed", function_id)
                reply["error"] = _error_body(exc)
        if invocation_id is None:
            return
        reply["traceparent"] = trace.traceparent
        try:
            payload = encode(reply)
        except TypeError as exc:
            reply.pop("result", None)
            reply["error"] = {
                "code": "invocation_failed",
                "message": f"result is not JSON serializable: {exc}",
            }
            payload = encode(reply)
        with contextlib.suppress(ConnectionClosed):
            await ws.send_text(payload)

    async def _on_trigger_change(self, ws: EngineSocket, kind: str, message: dict[str, Any]) -> None:
        trigger = Trigger(
            id=str(message.get("id", "")),
            trigger_type=str(message.get("trigger_type", "")),
            function_id=str(message.get("function_id", "")),
            config=message.get("config"),
        )
        owner = self._trigger_types.get(trigger.trigger_type)
        if kind == "unregistertrigger":
            if owner is not None:
                await owner[1].unregister_trigger(trigger)
            return
        result: dict[str, Any] = {
            "type": "triggerregistrationresult",
            "id": trigger.id,
            "trigger_type": trigger.trigger_type,
            "function_id": trigger.function_id,
        }
        if owner is None:
            result["error"] = {
                "code": "trigger_type_not_found",
                "message": f"unknown trigger type {trigger.trigger_type}",
            }
        else:
            try:
                await owner[1].register_trigger(trigger)
            except Exception as exc:
                log.exception("registering trigger %s failed", trigger.id)
                result["error"] = {"code": "trigger_registration_failed", "message": str(exc)}
        with contextlib.suppress(ConnectionClosed):
            await ws.send_text(encode(result))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _add_trace(message: dict[str, Any]) -> None:
    trace = current_trace()
    if trace is not None:
        message["traceparent"] = trace.traceparent
        if trace.baggage:
            message["baggage"] = trace.baggage


def _error_body(exc: BaseException) -> dict[str, Any]:
    stacktrace = "".join(traceback.format_exception(exc))
    if isinstance(exc, RemoteError):
        return {"code": exc.code, "message": exc.message, "stacktrace": stacktrace}
    return {"code": "invocation_failed", "message": str(exc) or type(exc).__name__, "stacktrace": stacktrace}
