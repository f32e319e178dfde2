"""The engine: registries, the one invocation path, module lifecycle and the worker port."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

import pluggy

from . import hookspecs
from .channels import ChannelRegistry
from .config import ConfigView, EngineConfig, Location, ModuleEntry
from .errors import ConfigError, InvocationError, StartupError, TriggerError, function_not_found
from .functions import Function, FunctionHandler, FunctionRegistry
from .invocation import Handler, Invocation, Middleware, Starter, chain
from .logs import get_logger, line_logger
from .plugins import ADAPTER_GROUP, ALWAYS_LOADED, MODULE_GROUP, resolve
from .server import WorkerServer
from .triggers import Trigger, TriggerOwner, TriggerRegistry, TriggerType
from .worker import WorkerConnection

SHUTDOWN_GRACE_S = 5.0
GC_YOUNG_THRESHOLD = 10_000
ANSWER_FLUSH_S = 1.0


def settle_garbage_collector() -> None:
    """Move everything built at start-up (modules, imports, registries) out of the collector's
    sight and make young collections rarer: the serving loop allocates many short-lived
    objects, and every collection re-scanned the long-lived start-up heap."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


class LoadedModule:
    """A module instance with the config entry it was built from."""

    def __init__(self, entry: ModuleEntry, instance: Any) -> None:
        self.entry = entry
        self.instance = instance

    @property
    def name(self) -> str:
        return self.entry.class_name


class Engine:
    """The kernel. Modules reach it through the methods documented here and the hooks."""

    def __init__(self, config: EngineConfig, *, host: str = "0.0.0.0") -> None:
        self.config = config
        self.host = host
        self.port = config.port
        self.functions = FunctionRegistry()
        self.triggers = TriggerRegistry()
        self.channels = ChannelRegistry()
        self.workers: dict[str, WorkerConnection] = {}
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        self.hook = self.plugin_manager.hook
        self.modules: list[LoadedModule] = []
        self._invoke: Handler = self._dispatch
        self._middlewares: list[Middleware] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the engine runs on, set by :meth:`start` (asking asyncio for it per call
        costs a ``getpid`` system call on Python 3.11)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: WorkerServer | None = None
        self._stopping = asyncio.Event()
        self._log = get_logger("iii::engine")

    # -- logging and tasks ---------------------------------------------------------------------

    @staticmethod
    def logger(name: str) -> Any:
        """A structlog logger whose lines carry ``name`` (e.g. ``iii::modules::api``)."""
        return get_logger(name)

    @staticmethod
    def line_logger(name: str, level: str = "info") -> Callable[[str], None] | None:
        """A fast writer of plain message lines for hot paths (one line per request), or
        ``None`` when ``level`` is off for ``name``; see :func:`iii_engine.logs.line_logger`."""
        return line_logger(name, level)

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run background work owned by the engine: cancelled at shutdown, failures logged."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self._log.error("background task failed", task=task.get_name(), error=repr(exc), exc_info=exc)

    # -- functions -----------------------------------------------------------------------------

    def register_function(
        self,
        function_id: str,
        handler: FunctionHandler,
        *,
        description: str | None = None,
        request_format: Any = None,
        response_format: Any = None,
        metadata: Any = None,
        worker_id: str | None = None,
        start: Starter | None = None,
    ) -> Function:
        """Register (or replace: last registration wins) a function.

        ``handler`` is ``async def handler(invocation) -> result``; return ``None`` for "no
        result", raise :class:`InvocationError` for an error body. ``start``, when given, makes
        the same call but returns its future at once (see :meth:`start_invocation`).
        """
        function = Function(
            function_id, handler, description, request_format, response_format, metadata, worker_id, start
        )
        previous = self.functions.add(function)
        if previous is not None and previous.worker_id != worker_id:
            self._log.warning("function overwritten", function=function_id)
            if previous.worker_id and previous.worker_id in self.workers:
                self.workers[previous.worker_id].functions.discard(function_id)
        self._log.debug("[REGISTERED] Function " + function_id, function=function_id)
        return function

    def unregister_function(self, function_id: str, *, worker_id: str | None = None) -> None:
        """Remove a function (with ``worker_id``: only if that worker still owns it)."""
        removed = self.functions.remove(function_id, worker_id=worker_id)
        if removed is not None and removed.worker_id in self.workers:
            self.workers[removed.worker_id].functions.discard(function_id)

    # -- invocation ----------------------------------------------------------------------------

    async def invoke(
        self,
        function_id: str,
        data: Any,
        *,
        traceparent: str | None = None,
        baggage: str | None = None,
        source: str = "engine",
    ) -> Any:
        """Call a function (engine or worker) and return its result; raises InvocationError."""
        return await self._invoke(
            Invocation(function_id, data, traceparent=traceparent, baggage=baggage, source=source)
        )

    def start_invocation(self, invocation: Invocation) -> asyncio.Future[Any]:
        """Begin a call; return the future of its result (InvocationError as its exception).

        For modules that serve many concurrent calls (one per HTTP request): without invocation
        middleware, a worker function's call is only a pending future, with no task of its own.
        """
        if not self._middlewares:
            function = self.functions.get(invocation.function_id)
            if function is not None and function.start is not None:
                return function.start(invocation)
        assert self._loop is not None, "the engine has not started"
        return self._loop.create_task(self._invoke(invocation))

    async def invoke_invocation(self, invocation: Invocation) -> Any:
        """Call with a prepared :class:`Invocation` (the worker protocol uses this)."""
        return await self._invoke(invocation)

    def invoke_void(self, function_id: str, data: Any, *, source: str = "engine", **context: Any) -> None:
        """Fire and forget: run the call in the background, log (at debug) if it fails."""
        self.spawn(
            self._void(Invocation(function_id, data, source=source, **context)), name=f"void:{function_id}"
        )

    async def _void(self, invocation: Invocation) -> None:
        try:
            await self._invoke(invocation)
        except InvocationError as exc:
            self._log.debug(
                "fire-and-forget call failed", function=invocation.function_id, error=exc.to_body()
            )

    async def _dispatch(self, invocation: Invocation) -> Any:
        function = self.functions.get(invocation.function_id)
        if function is None:
            raise function_not_found(invocation.function_id)
        return await function.handler(invocation)

    async def condition_passes(self, trigger: Trigger, payload: Any, *, source: str = "trigger") -> bool:
        """Run the trigger's ``condition_function_id`` (if any); only a JSON ``false`` skips.

        Errors of the condition function propagate as InvocationError.
        """
        condition = trigger.condition_function_id
        if condition is None:
            return True
        return await self.invoke(condition, payload, source=source) is not False

    async def fire(self, trigger: Trigger, payload: Any, *, source: str = "trigger", **context: Any) -> Any:
        """Deliver an event to a trigger: condition first, then the function. Returns the result,
        or ``None`` when the condition skipped it; failures are logged, never raised."""
        try:
            if not await self.condition_passes(trigger, payload, source=source):
                return None
            return await self._invoke(Invocation(trigger.function_id, payload, source=source, **context))
        except InvocationError as exc:
            self._log.warning(
                "triggered function failed",
                function=trigger.function_id,
                trigger_type=trigger.trigger_type,
                error=exc.to_body(),
            )
            return None

    def fire_all(self, trigger_type: str, payload: Any, *, source: str = "trigger") -> None:
        """Deliver ``payload`` to every trigger of ``trigger_type`` in the background."""
        for trigger in self.triggers.of_type(trigger_type):
            self.spawn(self.fire(trigger, payload, source=source), name=f"fire:{trigger_type}")

    def find_pending(self, invocation_id: Any) -> asyncio.Future[Any] | None:
        """A pending engine→worker invocation by id, whichever worker it was sent to."""
        for worker in self.workers.values():
            future = worker.pending.get(invocation_id)
            if future is not None:
                return future
        return None

    async def enqueue(
        self, queue: str, function_id: str, data: Any, traceparent: str | None, baggage: str | None
    ) -> str:
        """The worker protocol's ``enqueue`` action, delegated to the module that takes it."""
        pending = self.hook.iii_enqueue(
            engine=self,
            queue=queue,
            function_id=function_id,
            data=data,
            traceparent=traceparent,
            baggage=baggage,
        )
        if pending is None:
            raise InvocationError("enqueue_error", "QueueModule not loaded")
        return await pending

    def remote_function(
        self, worker: WorkerConnection, function_id: str, invocation: Any
    ) -> FunctionHandler | None:
        if not isinstance(invocation, dict):
            raise ConfigError("'invocation' must be an object")
        return self.hook.iii_remote_function(
            engine=self, worker=worker, function_id=function_id, invocation=invocation
        )

    def telemetry_frame(self, worker: WorkerConnection, kind: str, payload: bytes) -> None:
        try:
            self.hook.iii_telemetry_frame(engine=self, worker=worker, kind=kind, payload=payload)
        except Exception:
            self._log.exception("telemetry frame handler failed", kind=kind)

    # -- triggers ------------------------------------------------------------------------------

    def register_trigger_type(
        self, type_id: str, description: str, owner: TriggerOwner, *, worker_id: str | None = None
    ) -> bool:
        """Declare a trigger type and its owner. A worker may not replace a module's type."""
        existing = self.triggers.types.get(type_id)
        if existing is not None and existing.worker_id is None and worker_id is not None:
            self._log.warning("worker may not redefine a built-in trigger type", trigger_type=type_id)
            return False
        if existing is not None and existing.worker_id and existing.worker_id != worker_id:
            previous = self.workers.get(existing.worker_id)
            if previous is not None:
                previous.trigger_types.discard(type_id)
        self.triggers.types[type_id] = TriggerType(type_id, description, owner, worker_id)
        return True

    def unregister_trigger_type(self, type_id: str) -> None:
        """Remove a trigger type; its triggers stay stored (dormant) until a new owner appears."""
        self.triggers.types.pop(type_id, None)

    async def replay_triggers(self, type_id: str) -> None:
        """Hand every stored trigger of ``type_id`` to the type's (new) owner."""
        trigger_type = self.triggers.types.get(type_id)
        if trigger_type is None:
            return
        for trigger in self.triggers.of_type(type_id):
            try:
                await trigger_type.owner.register_trigger(trigger)
            except TriggerError as exc:
                self._log.warning("replayed trigger refused", trigger_id=trigger.id, error=str(exc))

    async def register_trigger(self, trigger: Trigger) -> None:
        """Bind a trigger through its type's owner; raises TriggerError when refused."""
        trigger_type = self.triggers.types.get(trigger.trigger_type)
        if trigger_type is None:
            self._log.error(
                "trigger type not found", trigger_type=trigger.trigger_type, trigger_id=trigger.id
            )
            raise TriggerError(f"Trigger type '{trigger.trigger_type}' not found")
        if trigger.id in self.triggers.triggers:
            await self.unregister_trigger(trigger.id)
        try:
            await trigger_type.owner.register_trigger(trigger)
        except TriggerError as exc:
            self._log.error(
                "trigger refused", trigger_type=trigger.trigger_type, trigger_id=trigger.id, error=str(exc)
            )
            raise
        self.triggers.triggers[trigger.id] = trigger
        self._notify("iii_trigger_registered", trigger=trigger)

    async def unregister_trigger(self, trigger_id: str, *, worker_id: str | None = None) -> None:
        """Remove a trigger (with ``worker_id``: only if that worker still owns it)."""
        trigger = self.triggers.triggers.get(trigger_id)
        if trigger is None or (worker_id is not None and trigger.worker_id != worker_id):
            return
        del self.triggers.triggers[trigger_id]
        if trigger.worker_id in self.workers:
            self.workers[trigger.worker_id].trigger_ids.discard(trigger_id)
        trigger_type = self.triggers.types.get(trigger.trigger_type)
        if trigger_type is not None:
            try:
                await trigger_type.owner.unregister_trigger(trigger)
            except Exception:
                self._log.exception("trigger owner failed to unregister", trigger_id=trigger_id)
        self._notify("iii_trigger_unregistered", trigger=trigger)

    # -- workers -------------------------------------------------------------------------------

    def worker_connected(self, worker: WorkerConnection) -> None:
        self.workers[worker.id] = worker
        self._log.debug("worker connected", worker_id=worker.id, peer=worker.ip_address)
        self._notify("iii_worker_connected", worker=worker)

    def worker_updated(self, worker: WorkerConnection) -> None:
        self._notify("iii_worker_updated", worker=worker)

    async def worker_disconnected(self, worker: WorkerConnection) -> None:
        """Clean up after a connection (owner-aware for functions and triggers); runs once."""
        if worker.closed:
            return
        worker.closed = True
        for function_id in list(worker.functions):
            self.unregister_function(function_id, worker_id=worker.id)
        worker.fail_pending()
        for trigger_id in list(worker.trigger_ids):
            await self.unregister_trigger(trigger_id, worker_id=worker.id)
        for type_id in list(worker.trigger_types):
            existing = self.triggers.types.get(type_id)
            if existing is not None and existing.worker_id == worker.id:
                self.unregister_trigger_type(type_id)
        self.workers.pop(worker.id, None)
        self._log.debug("worker disconnected", worker_id=worker.id)
        self._notify("iii_worker_disconnected", worker=worker)

    def _notify(self, hook_name: str, **kwargs: Any) -> None:
        try:
            getattr(self.hook, hook_name)(engine=self, **kwargs)
        except Exception:
            self._log.exception("hook failed", hook=hook_name)

    # -- adapters ------------------------------------------------------------------------------

    def create_adapter(self, config: ConfigView, default_class: str, key: str = "adapter") -> Any:
        """Build the adapter named by ``config[key].class`` (or ``default_class``).

        The adapter entry point (group ``iii.adapters``) is called as ``factory(engine, view)``
        with the adapter's own ``config:`` view.
        """
        section = config.section(key)
        class_name = section.str("class", default_class)
        adapter_config = section.section("config")
        section.reject_unknown()
        try:
            factory = resolve(ADAPTER_GROUP, class_name)
        except StartupError as exc:
            raise section.error("class", str(exc)) from None
        return factory(self, adapter_config)

    # -- lifecycle -----------------------------------------------------------------------------

    def load_modules(self) -> None:
        """Build every configured module (plus the always-loaded ones) and register it."""
        entries = list(self.config.modules)
        listed = {entry.class_name for entry in entries}
        always = Location("<always loaded>")
        for name in ALWAYS_LOADED:
            if name not in listed:
                entries.append(ModuleEntry(name, ConfigView(None, always), always))
        for index, entry in enumerate(entries):
            try:
                factory = resolve(MODULE_GROUP, entry.class_name)
            except StartupError as exc:
                raise StartupError(f"{entry.location}: {exc}") from None
            try:
                instance = factory(self, entry.config)
            except Exception as exc:
                raise self._startup_error("create", entry, exc) from None
            self.plugin_manager.register(instance, name=f"{index}:{entry.class_name}")
            self.modules.append(LoadedModule(entry, instance))

    async def _call_each(self, hook_name: str, modules: list[LoadedModule], verb: str) -> list[Any]:
        results = []
        for module in modules:
            others = [m.instance for m in self.modules if m is not module]
            caller = self.plugin_manager.subset_hook_caller(hook_name, remove_plugins=others)
            try:
                for result in caller(engine=self):
                    if inspect.isawaitable(result):
                        result = await result
                    results.append(result)
            except Exception as exc:
                raise self._startup_error(verb, module.entry, exc) from None
        return results

    def _startup_error(self, verb: str, entry: ModuleEntry, exc: Exception) -> StartupError:
        """A start-up failure as one line naming the module and where it is configured;
        unexpected exceptions keep their traceback in the debug log."""
        where = ""
        if isinstance(exc, ConfigError):
            detail = exc.message
        elif isinstance(exc, StartupError | OSError):
            detail, where = str(exc), f"{entry.location}: "
        else:
            detail, where = f"{type(exc).__name__}: {exc}", f"{entry.location}: "
            self._log.debug("module failure", module=entry.class_name, exc_info=exc)
        return StartupError(f"{where}failed to {verb} module '{entry.class_name}': {detail}")

    async def start(self) -> None:
        """Initialise, register and start every module, then open the worker port."""
        self._loop = asyncio.get_running_loop()
        self.load_modules()
        await self._call_each("iii_module_init", self.modules, "initialize")
        await self._call_each("iii_module_register", self.modules, "initialize")
        await self._call_each("iii_module_start", self.modules, "start")
        middlewares: list[Middleware] = [
            mw
            for mw in await self._call_each("iii_invocation_middleware", self.modules, "start")
            if mw is not None
        ]
        self._middlewares = middlewares
        self._invoke = chain(middlewares, self._dispatch)
        self.spawn(self.channels.run_sweeper(), name="channel-sweeper")
        self._server = WorkerServer(self, self.host, self.port)
        try:
            await self._server.start()
        except OSError as exc:
            raise StartupError(f"failed to bind the worker port {self.host}:{self.port}: {exc}") from None
        settle_garbage_collector()
        self._log.info(f"Engine listening on address: {self.host}:{self.port}")

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_stopped(self) -> None:
        await self._stopping.wait()

    async def _fail_in_flight(self) -> None:
        """Fail every call waiting on a worker and give the callers' answers a moment to go out."""
        for worker in self.workers.values():
            worker.fail_pending()
        answering = [task for worker in self.workers.values() for task in worker.issued]
        if answering:
            await asyncio.wait(answering, timeout=ANSWER_FLUSH_S)

    async def stop(self) -> None:
        """Graceful shutdown: stop accepting, fail the calls pending on workers (their callers
        are answered ``invocation_stopped``), close every connection, stop modules in reverse
        order, cancel background tasks."""
        self._log.info("Shutting down")
        if self._server is not None:
            await self._server.stop_accepting()
            await self._fail_in_flight()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.close(), SHUTDOWN_GRACE_S)
        for worker in list(self.workers.values()):
            await self.worker_disconnected(worker)
        for module in reversed(self.modules):
            try:
                await asyncio.wait_for(self._call_each("iii_module_stop", [module], "stop"), SHUTDOWN_GRACE_S)
            except (TimeoutError, StartupError) as exc:
                self._log.warning("module did not stop cleanly", module=module.name, error=str(exc))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
