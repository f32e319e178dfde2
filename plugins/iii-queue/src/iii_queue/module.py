"""``modules::queue::QueueModule``: named queues (the ``enqueue`` action), topic queues (the
``enqueue`` function and ``queue`` trigger type) and the dead-letter/stats functions.

The adapter is either a :class:`QueueStore` (messages are stored and consumed here) or a
:class:`QueueForwarder` (everything is handed on; nothing is consumed here)."""

from __future__ import annotations

import functools
from typing import Any

import orjson
from iii_engine import Input, Invocation, InvocationError, Module, StartupError, Trigger, hookimpl

from .consumer import Consumer
from .forwarder import QueueForwarder
from .message import Message
from .queue_config import NamedQueue, read_named_queues, trigger_policy
from .store import QueueStore

BUILTIN_ADAPTER = "modules::queue::BuiltinQueueAdapter"
DLQ_LIST_DEFAULT_LIMIT = 100


def named_key(name: str) -> str:
    """Store name of a named queue."""
    return f"queue:{name}"


def topic_key(topic: str) -> str:
    """Store name of a topic queue."""
    return f"topic:{topic}"


class QueueModule(Module):
    """Queues with at-least-once delivery, retries with exponential back-off, dead letters,
    visibility timeouts and FIFO message groups, over a pluggable store."""

    logger_name = "iii::modules::queue"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.named: dict[str, NamedQueue] = {}
        self.adapter: QueueStore | QueueForwarder
        self.store: QueueStore
        self.forwarder: QueueForwarder | None = None
        self.consumers: list[Consumer] = []
        self.topic_consumers: dict[str, Consumer] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    @hookimpl
    def iii_module_init(self) -> None:
        self.named = read_named_queues(self.config)
        self.adapter = self.engine.create_adapter(self.config, BUILTIN_ADAPTER)
        if isinstance(self.adapter, QueueForwarder):
            self.forwarder = self.adapter
            if self.named:
                self.log.warning(
                    "queue_configs ignored: the adapter forwards named queues to where they are defined",
                    queues=sorted(self.named),
                )
                self.named = {}
        else:
            self.store = self.adapter

    @hookimpl
    def iii_module_register(self) -> None:
        register = self.engine.register_function
        register("enqueue", self.enqueue_topic, description="Enqueue a message")
        store_functions = {
            "queue::stats": (self.stats, "Queue depth, in-flight and dead-letter counts"),
            "queue::dlq::list": (self.list_dead, "List dead-lettered messages of a queue"),
            "queue::dlq::redrive": (self.redrive, "Put dead-lettered messages back on their queue"),
            "queue::dlq::purge": (self.purge, "Delete dead-lettered messages of a queue"),
        }
        for function_id, (handler, description) in store_functions.items():
            if self.forwarder is not None:
                handler = self._forwarded(self.forwarder, function_id)
            register(function_id, handler, description=description)
        self.engine.register_trigger_type("queue", "Queue trigger", self)

    @hookimpl
    async def iii_module_start(self) -> None:
        try:
            await self.adapter.open()
        except Exception as exc:
            raise StartupError(f"cannot open the queue store: {type(exc).__name__}: {exc}") from None
        for queue in self.named.values():
            consumer = Consumer(
                self.engine, self.store, named_key(queue.name), queue.policy, self._deliver_named, self.log
            )
            consumer.start()
            self.consumers.append(consumer)

    @hookimpl
    async def iii_module_stop(self) -> None:
        for consumer in [*self.consumers, *self.topic_consumers.values()]:
            await consumer.stop()
        await self.adapter.close()

    # -- named queues --------------------------------------------------------------------------

    @hookimpl
    def iii_enqueue(
        self, queue: str, function_id: str, data: Any, traceparent: str | None, baggage: str | None
    ) -> Any:
        if self.forwarder is not None:
            return self.forwarder.enqueue_named(queue, function_id, data, traceparent, baggage)
        return self._enqueue_named(queue, function_id, data, traceparent, baggage)

    async def _enqueue_named(
        self, queue: str, function_id: str, data: Any, traceparent: str | None, baggage: str | None
    ) -> str:
        config = self.named.get(queue)
        if config is None:
            raise InvocationError("enqueue_error", f"Queue '{queue}' not found")
        group = None
        if config.group_field is not None:
            field = config.group_field
            if not isinstance(data, dict) or field not in data:
                raise InvocationError(
                    "enqueue_error",
                    f"FIFO queue '{queue}' requires field '{field}' in data, but it was not found",
                )
            value = data[field]
            if value is None:
                raise InvocationError(
                    "enqueue_error", f"FIFO queue '{queue}': field '{field}' must not be null"
                )
            group = value if isinstance(value, str) else orjson.dumps(value).decode()
        message = Message(data, function_id, group, traceparent, baggage)
        await self._push(named_key(queue), message)
        return message.id

    async def _push(self, key: str, message: Message) -> None:
        try:
            await self.store.push(key, message)
        except Exception as exc:
            self.log.error("queue store refused a message", queue=key, error=repr(exc))
            raise InvocationError("enqueue_error", f"Failed to enqueue message: {exc}") from None

    async def _deliver_named(self, message: Message) -> None:
        await self.engine.invoke(
            message.function_id or "",
            message.data,
            traceparent=message.traceparent,
            baggage=message.baggage,
            source="queue",
        )

    # -- topic queues --------------------------------------------------------------------------

    async def enqueue_topic(self, invocation: Invocation) -> None:
        data = Input(invocation.function_id, invocation.data)
        topic = data.required("topic", str)
        payload = data.required("data")
        if not topic:
            raise InvocationError("topic_not_set", "Topic is not set")
        if self.forwarder is not None:
            await self.forwarder.enqueue_topic(topic, payload, invocation.traceparent, invocation.baggage)
            return
        message = Message(payload, traceparent=invocation.traceparent, baggage=invocation.baggage)
        await self._push(topic_key(topic), message)

    async def register_trigger(self, trigger: Trigger) -> None:
        config = trigger.config if isinstance(trigger.config, dict) else {}
        topic = config.get("topic")
        if not isinstance(topic, str) or not topic:
            self.log.warning("queue trigger without a topic is inert", trigger_id=trigger.id)
            return
        if self.forwarder is not None:
            await self.forwarder.subscribe(trigger, functools.partial(self._run_trigger, trigger))
            return
        policy = trigger_policy(config, self.store.topic_policy)

        async def deliver(message: Message) -> None:
            await self._run_trigger(trigger, message.data, message.traceparent, message.baggage)

        consumer = Consumer(self.engine, self.store, topic_key(topic), policy, deliver, self.log)
        self.topic_consumers[trigger.id] = consumer
        consumer.start()

    async def _run_trigger(
        self, trigger: Trigger, data: Any, traceparent: str | None, baggage: str | None
    ) -> Any:
        """One topic message for ``trigger``: its condition, then its function."""
        if not await self.engine.condition_passes(trigger, data, source="queue"):
            return None
        return await self.engine.invoke(
            trigger.function_id, data, traceparent=traceparent, baggage=baggage, source="queue"
        )

    async def unregister_trigger(self, trigger: Trigger) -> None:
        if self.forwarder is not None:
            await self.forwarder.unsubscribe(trigger)
            return
        consumer = self.topic_consumers.pop(trigger.id, None)
        if consumer is None:
            return
        await consumer.stop()
        if all(other.queue != consumer.queue for other in self.topic_consumers.values()):
            await self.store.release(consumer.queue)

    # -- dead letters and stats ----------------------------------------------------------------

    @staticmethod
    def _forwarded(forwarder: QueueForwarder, function_id: str) -> Any:
        """``function_id`` answered by the forwarding adapter (where the messages are)."""

        async def forward(invocation: Invocation) -> Any:
            return await forwarder.call(function_id, invocation.data)

        return forward

    def _target(self, data: Input) -> tuple[str, dict[str, str]]:
        """The store name addressed by ``{"queue": name}`` or ``{"topic": name}``."""
        queue = data.optional("queue", str)
        topic = data.optional("topic", str)
        if (queue is None) == (topic is None):
            raise InvocationError("invalid_argument", "Pass exactly one of 'queue' (named queue) or 'topic'")
        if queue is not None:
            if queue not in self.named:
                raise InvocationError("queue_not_found", f"Queue '{queue}' not found")
            return named_key(queue), {"queue": queue}
        return topic_key(topic), {"topic": topic}

    async def stats(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        if data.optional("queue") is None and data.optional("topic") is None:
            keys = set(await self.store.queues()) | {named_key(n) for n in self.named}
            return {"queues": [await self._stats_of(key, _label(key)) for key in sorted(keys)]}
        key, label = self._target(data)
        return await self._stats_of(key, label)

    async def _stats_of(self, key: str, label: dict[str, str]) -> dict[str, Any]:
        return {**label, **await self.store.stats(key)}

    async def list_dead(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        key, label = self._target(data)
        limit = data.optional("limit", int, DLQ_LIST_DEFAULT_LIMIT)
        letters = await self.store.dead_letters(key, max(limit, 0))
        return {**label, "messages": [letter.describe() for letter in letters]}

    def _ids(self, data: Input) -> list[str] | None:
        ids = data.optional("ids", list)
        if ids is not None and not all(isinstance(i, str) for i in ids):
            raise InvocationError("invalid_argument", "'ids' must be a list of message ids")
        return ids

    async def redrive(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        key, label = self._target(data)
        return {**label, "redriven": await self.store.redrive(key, self._ids(data))}

    async def purge(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        key, label = self._target(data)
        return {**label, "purged": await self.store.purge_dead(key, self._ids(data))}


def _label(key: str) -> dict[str, str]:
    kind, _, name = key.partition(":")
    return {kind: name}
