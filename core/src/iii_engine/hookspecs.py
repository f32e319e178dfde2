"""Hook specifications: the whole API between the kernel and a module.

A module is a class named in the config by its ``class:`` and found through the ``iii.modules``
entry-point group. The kernel builds one instance per config entry (``Module(engine, config)``)
and registers that instance with the plugin manager, so its methods decorated with
:data:`iii_engine.hookimpl` implement the hooks below. Built-in modules use exactly these
hooks; nothing else in the kernel knows them.

Three families:

* **Lifecycle** — ``iii_module_init``, ``iii_module_register``, ``iii_module_start``,
  ``iii_module_stop``. The kernel calls each of them *per module*, one module at a time, in
  config order (stop: reverse order). An implementation may be a plain function or return an
  awaitable; the kernel awaits it before moving to the next module. An exception aborts
  start-up with a message naming the module.
* **Registration events** — workers, functions and triggers coming and going. These are
  broadcast to every module, synchronously; start background work with ``engine.spawn``.
* **Invocation** — ``iii_invocation_middleware`` wraps the one path every call takes;
  ``iii_enqueue`` and ``iii_remote_function`` let a module take over the protocol features
  that need one (the ``enqueue`` action, HTTP-invoked functions); ``iii_telemetry_frame``
  receives the binary telemetry that workers send.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .engine import Engine
    from .functions import FunctionHandler
    from .invocation import Middleware
    from .triggers import Trigger
    from .worker import WorkerConnection

PROJECT = "iii"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- lifecycle ---------------------------------------------------------------------------------


@hookspec
def iii_module_init(engine: Engine) -> Awaitable[None] | None:
    """Validate the module's config and build its adapters and servers.

    Called once, in config order, before any module registers functions. Raise
    :class:`iii_engine.ConfigError` (with the ``path`` of the offending key) for bad config:
    the kernel reports it with the file and line. Ports should be bound here so that a port in
    use fails start-up.
    """


@hookspec
def iii_module_register(engine: Engine) -> Awaitable[None] | None:
    """Register the module's engine functions and trigger types.

    Use ``engine.register_function(...)`` and ``engine.register_trigger_type(...)``. Called in
    config order after every module was initialised.
    """


@hookspec
def iii_module_start(engine: Engine) -> Awaitable[None] | None:
    """Start background work: accept connections, run consumers, schedulers, watchers.

    Long-running loops belong in ``engine.spawn(...)`` tasks; this hook should return promptly.
    Called in config order after every module registered, before the worker port opens.
    """


@hookspec
def iii_module_stop(engine: Engine) -> Awaitable[None] | None:
    """Stop cleanly: stop accepting, drain or fail in-flight work, close sockets, flush.

    Called in reverse config order on shutdown, after every worker connection was closed.
    Must not raise for work that is already stopped; should finish within a few seconds.
    """


# -- registration events -----------------------------------------------------------------------


@hookspec
def iii_worker_connected(engine: Engine, worker: WorkerConnection) -> None:
    """A worker connected to the worker port and was given ``worker.id``."""


@hookspec
def iii_worker_updated(engine: Engine, worker: WorkerConnection) -> None:
    """A worker's metadata changed (``engine::workers::register``)."""


@hookspec
def iii_worker_disconnected(engine: Engine, worker: WorkerConnection) -> None:
    """A worker's connection ended; its functions, triggers and trigger types are gone."""


@hookspec
def iii_trigger_registered(engine: Engine, trigger: Trigger) -> None:
    """A trigger was accepted by the owner of its type and stored."""


@hookspec
def iii_trigger_unregistered(engine: Engine, trigger: Trigger) -> None:
    """A trigger was removed (explicitly or because its worker disconnected)."""


# -- invocation --------------------------------------------------------------------------------


@hookspec
def iii_invocation_middleware(engine: Engine) -> Middleware | None:
    """Return a middleware that wraps every invocation, or ``None``.

    A middleware is ``async def mw(invocation, call_next) -> result``: it may inspect or
    annotate the :class:`iii_engine.Invocation`, must ``await call_next(invocation)`` to run
    the function (or raise :class:`iii_engine.InvocationError` to refuse), and returns the
    result. Collected once, after every module started; the first module in config order is
    the outermost wrapper. Tracing, metrics and policies (auth, rate limits) attach here.
    """


@hookspec(firstresult=True)
def iii_enqueue(
    engine: Engine,
    queue: str,
    function_id: str,
    data: Any,
    traceparent: str | None,
    baggage: str | None,
) -> Awaitable[str] | None:
    """Accept a worker's ``{"type": "enqueue", "queue": Q}`` action.

    The module that owns named queues returns an awaitable resolving to the message receipt id
    (raise :class:`iii_engine.InvocationError` with code ``enqueue_error`` to refuse). Return
    ``None`` when this module does not handle enqueueing; with no taker the worker receives
    ``enqueue_error: QueueModule not loaded``.
    """


@hookspec(firstresult=True)
def iii_remote_function(
    engine: Engine, worker: WorkerConnection, function_id: str, invocation: dict[str, Any]
) -> FunctionHandler | None:
    """Build the handler of a function a worker registered with an ``invocation`` object.

    Such functions are executed by the engine itself (e.g. over HTTP). Return a handler
    (``async def handler(invocation) -> result``), raise :class:`iii_engine.ConfigError` to
    refuse the registration with a logged reason, or return ``None`` if not yours. Without a
    taker the registration is logged and dropped.
    """


@hookspec
def iii_telemetry_frame(engine: Engine, worker: WorkerConnection, kind: str, payload: bytes) -> None:
    """A worker sent a binary telemetry frame.

    ``kind`` is ``"OTLP"`` (spans), ``"MTRC"`` (metrics) or ``"LOGS"``; ``payload`` is the
    OTLP/JSON document after the 4-byte prefix. Never answered; must not raise.
    """
