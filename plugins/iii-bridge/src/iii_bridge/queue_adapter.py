"""``modules::queue::adapters::Bridge``: queues kept and consumed by a remote engine.

* named queues: the remote's ``enqueue`` action, so the function runs on the remote engine
  (a function of this engine must be exposed there, e.g. by ``BridgeClientModule.expose``);
* topic queues: the remote's ``enqueue`` function;
* a ``queue`` trigger of this engine: a proxy function plus a ``queue`` trigger on the remote;
  the proxy runs the local function and returns its outcome, so the remote's retries and dead
  letters apply;
* ``queue::stats`` and ``queue::dlq::*``: the remote's same functions.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from iii_engine import ConfigView, Engine, InvocationError, Trigger
from iii_queue.forwarder import QueueForwarder, RunTrigger
from iii_steps.errors import RemoteError
from iii_steps.tracing import TraceContext, current_trace, set_current_trace

from .remote import DEFAULT_URL, RemoteEngine


@contextlib.contextmanager
def traced(traceparent: str | None, baggage: str | None) -> Iterator[None]:
    """Remote calls made inside carry the producer's trace context."""
    token = set_current_trace(TraceContext.child_of(traceparent, baggage) if traceparent else None)
    try:
        yield
    finally:
        token.var.reset(token)


class BridgeQueueForwarder(QueueForwarder):
    """Forwards every queue operation to the remote engine; nothing is consumed here."""

    def __init__(self, remote: RemoteEngine) -> None:
        self.remote = remote
        self.instance = uuid.uuid4().hex
        self.proxies: dict[str, tuple[str, str]] = {}
        """Local trigger id → (remote proxy function id, remote trigger id)."""

    async def open(self) -> None:
        await self.remote.start()

    async def close(self) -> None:
        await self.remote.stop()

    async def enqueue_named(
        self, queue: str, function_id: str, data: Any, traceparent: str | None, baggage: str | None
    ) -> str:
        with traced(traceparent, baggage):
            return await self.remote.enqueue(queue, function_id, data)

    async def enqueue_topic(
        self, topic: str, data: Any, traceparent: str | None, baggage: str | None
    ) -> None:
        with traced(traceparent, baggage):
            await self.remote.call("enqueue", {"topic": topic, "data": data})

    async def subscribe(self, trigger: Trigger, run: RunTrigger) -> None:
        """Registered through the worker, so the proxy and its trigger are replayed whenever the
        connection to the remote comes back."""

        async def proxy(data: Any) -> Any:
            trace = current_trace()
            try:
                return await run(data, trace.traceparent if trace else None, trace.baggage if trace else None)
            except InvocationError as exc:
                raise RemoteError(exc.code, exc.message, exc.stacktrace) from None

        proxy_id = f"iii_bridge::queue::{self.instance}::{trigger.id}"
        # the condition runs here, inside ``run``: its function is not known to the remote
        config = {key: value for key, value in trigger.config.items() if key != "condition_function_id"}
        worker = self.remote.worker
        worker.register_function(
            proxy_id, proxy, description=f"queue trigger {trigger.id} of a bridged engine"
        )
        self.proxies[trigger.id] = (proxy_id, worker.register_trigger("queue", proxy_id, config))

    async def unsubscribe(self, trigger: Trigger) -> None:
        proxy = self.proxies.pop(trigger.id, None)
        if proxy is None:
            return
        proxy_id, remote_trigger_id = proxy
        self.remote.worker.unregister_trigger(remote_trigger_id)
        self.remote.worker.unregister_function(proxy_id)

    async def call(self, function_id: str, data: Any) -> Any:
        return await self.remote.call(function_id, data)


def create(engine: Engine, config: ConfigView) -> QueueForwarder:
    """``bridge_url`` (default ``ws://localhost:49134``): the remote engine's worker URL."""
    url = config.str("bridge_url", DEFAULT_URL)
    return BridgeQueueForwarder(RemoteEngine(url, name="iii-bridge-queue"))
