"""``modules::queue::QueueModule``: named queues (the ``enqueue`` action), topic queues (the
``enqueue`` function and ``queue`` trigger type) and the dead-letter/stats functions."""

from __future__ import annotations

from typing import Any

import orjson
from iii_engine import Input, Invocation, InvocationError, Module, StartupError, Trigger, hookimpl

from .consumer import Consumer
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
        self.store: QueueStore
        self.consumers: list[Consumer] = []
        self.topic_consumers: dict[str, Consumer] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    @hookimpl
    def iii_module_init(self) -> None:
        self.named = read_named_queues(self.config)
        self.store = self.engine.create_adapter(self.config, BUILTIN_ADAPTER)

    @hookimpl
    def iii_module_register(self) -> None:
        register = self.engine.register_function
        register("enqueue", self.enqueue_topic, description="Enqueue a message")
        register("queue::stats", self.stats, description="Queue depth, in-flight and dead-letter counts")
        register("queue::dlq::list", self.list_dead, description="List dead-lettered messages of a queue")
        register(
            "queue::dlq::redrive", self.redrive, description="Put dead-lettered messages back on their queue"
        )
        register("queue::dlq::purge", self.purge, description="Delete dead-lettered messages of a queue")
        self.engine.register_trigger_type("queue", "Queue trigger", self)

    @hookimpl
    async def iii_module_start(self) -> None:
        try:
            await self.store.open()
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
        await self.store.close()

    # -- named queues --------------------------------------------------------------------------

    @hookimpl
    def iii_enqueue(
        self, queue: str, function_id: str, data: Any, traceparent: str | None, baggage: str | None
    ) -> Any:
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
        message = Message(payload, traceparent=invocation.traceparent, baggage=invocation.baggage)
        await self._push(topic_key(topic), message)

    async def register_trigger(self, trigger: Trigger) -> None:
        config = trigger.config if isinstance(trigger.config, dict) else {}
        topic = config.get("topic")
        policy = trigger_policy(config, self.store.topic_policy)
        if not isinstance(topic, str) or not topic:
            self.log.warning("queue trigger without a topic is inert", trigger_id=trigger.id)
            return

        async def deliver(message: Message) -> None:
            if not await self.engine.condition_passes(trigger, message.data, source="queue"):
                return
            await self.engine.invoke(
                trigger.function_id,
                message.data,
                traceparent=message.traceparent,
                baggage=message.baggage,
                source="queue",
            )

        consumer = Consumer(self.engine, self.store, topic_key(topic), policy, deliver, self.log)
        self.topic_consumers[trigger.id] = consumer
        consumer.start()

    async def unregister_trigger(self, trigger: Trigger) -> None:
        consumer = self.topic_consumers.pop(trigger.id, None)
        if consumer is None:
            return
        await consumer.stop()
        if all(other.queue != consumer.queue for other in self.topic_consumers.values()):
            await self.store.release(consumer.queue)

    # -- dead letters and stats ----------------------------------------------------------------

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
