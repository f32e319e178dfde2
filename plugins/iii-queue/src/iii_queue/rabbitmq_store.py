"""``modules::queue::RabbitMQAdapter``: durable queues on a RabbitMQ broker (aio-pika).

Per store queue ``q``: ``<prefix>.<q>.queue`` (messages), ``<prefix>.<q>.dlq`` (dead letters)
and one ``<prefix>.<q>.retry.<ms>`` queue per back-off delay (message TTL = delay, dead-lettered
back into the main queue), so exponential back-off needs no plugin. Messages are persistent and
published with confirms; the attempt count travels in the ``x-attempt`` header. Unacknowledged
messages return to the queue when the engine's connection drops (that is the visibility
timeout here). FIFO queues are consumed with prefetch 1 and retried in place, so a failing
message holds back the queue (strict order, no parallelism).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from iii_engine import ConfigView

from .message import DeadLetter, Message, Policy, now_ms
from .store import QueueStore, describe_stats, topic_policy

ATTEMPT_HEADER = "x-attempt"

OnSelected = Callable[[DeadLetter], Awaitable[None]]


class RabbitQueue:
    """What this engine holds for one queue: its consumer channel and the prefetched messages."""

    def __init__(self) -> None:
        self.channel: AbstractChannel | None = None
        self.subscribing: asyncio.Future[None] | None = None
        self.buffer: deque[tuple[AbstractIncomingMessage, int]] = deque()
        self.in_flight: dict[tuple[str, int], AbstractIncomingMessage] = {}
        self.delays: set[int] = set()
        self.fifo = False


class RabbitMQStore(QueueStore):
    def __init__(self, url: str, prefix: str) -> None:
        super().__init__()
        self.url = url
        self.prefix = prefix
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractChannel | None = None
        self.queues_held: dict[str, RabbitQueue] = {}
        self._declared: set[str] = set()

    def name(self, queue: str, kind: str) -> str:
        return f"{self.prefix}.{queue}.{kind}"

    async def open(self) -> None:
        self.connection = await aio_pika.connect_robust(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    def _held(self, queue: str) -> RabbitQueue:
        held = self.queues_held.get(queue)
        if held is None:
            held = self.queues_held[queue] = RabbitQueue()
        return held

    async def _declare(self, queue: str) -> None:
        if queue in self._declared:
            return
        assert self.channel is not None
        await self.channel.declare_queue(self.name(queue, "queue"), durable=True)
        await self.channel.declare_queue(self.name(queue, "dlq"), durable=True)
        self._declared.add(queue)

    async def _publish(self, routing_key: str, body: bytes, headers: dict[str, Any], message_id: str) -> None:
        assert self.channel is not None
        await self.channel.default_exchange.publish(
            aio_pika.Message(
                body, headers=headers, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            ),
            routing_key=routing_key,
        )

    async def push(self, queue: str, message: Message) -> None:
        await self._declare(queue)
        await self._publish(self.name(queue, "queue"), message.to_json(), {ATTEMPT_HEADER: 0}, message.id)

    async def _consume(self, queue: str, held: RabbitQueue, policy: Policy) -> None:
        assert self.connection is not None
        await self._declare(queue)
        held.fifo = policy.fifo
        held.channel = await self.connection.channel()
        await held.channel.set_qos(prefetch_count=1 if policy.fifo else policy.concurrency)
        broker_queue = await held.channel.declare_queue(self.name(queue, "queue"), durable=True)

        async def on_message(incoming: AbstractIncomingMessage) -> None:
            previous = incoming.headers.get(ATTEMPT_HEADER, 0)
            held.buffer.append((incoming, int(previous) if isinstance(previous, int) else 0))
            self.wake(queue)

        await broker_queue.consume(on_message)

    async def reserve(self, queue: str, limit: int, policy: Policy) -> list[Message]:
        held = self._held(queue)
        if held.subscribing is None:
            held.subscribing = asyncio.ensure_future(self._consume(queue, held, policy))
        await held.subscribing
        taken = []
        while held.buffer and len(taken) < limit:
            incoming, previous = held.buffer.popleft()
            message = Message.from_json(incoming.body, previous + 1)
            held.in_flight[(message.id, message.attempts)] = incoming
            taken.append(message)
        return taken

    async def release(self, queue: str) -> None:
        """Stop consuming: prefetched and unacknowledged messages go back to the broker."""
        held = self.queues_held.pop(queue, None)
        if held is not None and held.channel is not None:
            with contextlib.suppress(Exception):
                await held.channel.close()

    def _forget(self, queue: str, message: Message) -> AbstractIncomingMessage | None:
        return self._held(queue).in_flight.pop((message.id, message.attempts), None)

    async def ack(self, queue: str, message: Message) -> None:
        incoming = self._forget(queue, message)
        if incoming is not None:
            await incoming.ack()

    async def retry(self, queue: str, message: Message, delay_ms: int) -> None:
        held = self._held(queue)
        incoming = self._forget(queue, message)
        if incoming is None:
            return
        if held.fifo:
            loop = asyncio.get_running_loop()
            loop.call_later(delay_ms / 1000, self._requeue_locally, queue, incoming, message.attempts)
            return
        retry_queue = self.name(queue, f"retry.{delay_ms}")
        if delay_ms not in held.delays:
            assert self.channel is not None
            arguments = {
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.name(queue, "queue"),
            }
            await self.channel.declare_queue(retry_queue, durable=True, arguments=arguments)
            held.delays.add(delay_ms)
        await self._publish(retry_queue, incoming.body, {ATTEMPT_HEADER: message.attempts}, message.id)
        await incoming.ack()

    def _requeue_locally(self, queue: str, incoming: AbstractIncomingMessage, attempts: int) -> None:
        self._held(queue).buffer.appendleft((incoming, attempts))
        self.wake(queue)

    async def bury(self, queue: str, message: Message, error: str) -> None:
        incoming = self._forget(queue, message)
        if incoming is None:
            return
        headers = {ATTEMPT_HEADER: message.attempts, "x-error": error, "x-failed-at": now_ms()}
        await self._publish(self.name(queue, "dlq"), incoming.body, headers, message.id)
        await incoming.ack()

    async def _drain_dead(
        self,
        queue: str,
        limit: int,
        selected: Callable[[Message], bool],
        on_selected: OnSelected | None = None,
    ) -> list[DeadLetter]:
        """Read up to ``limit`` dead letters on a private channel. Selected ones are handed to
        ``on_selected`` and then removed; the rest go back to the dead-letter queue."""
        assert self.connection is not None
        await self._declare(queue)
        channel = await self.connection.channel()
        letters = []
        try:
            dlq = await channel.declare_queue(self.name(queue, "dlq"), durable=True)
            for _ in range(limit):
                incoming = await dlq.get(no_ack=False, fail=False)
                if incoming is None:
                    break
                headers = incoming.headers
                message = Message.from_json(incoming.body, int(headers.get(ATTEMPT_HEADER, 0)))
                letter = DeadLetter(
                    message, str(headers.get("x-error", "")), int(headers.get("x-failed-at", 0))
                )
                if selected(message):
                    letters.append(letter)
                    if on_selected is not None:
                        await on_selected(letter)
                    await incoming.ack()
                elif on_selected is None:
                    letters.append(letter)
        finally:
            await channel.close()  # unacknowledged ones go back to the dead-letter queue
        return letters

    async def dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        return await self._drain_dead(queue, limit, lambda _: False)

    async def _take_dead(self, queue: str, ids: list[str] | None, on_selected: OnSelected) -> int:
        dead = (await self.stats(queue))["dead"]
        wanted = None if ids is None else set(ids)
        taken = await self._drain_dead(queue, dead, lambda m: wanted is None or m.id in wanted, on_selected)
        return len(taken)

    async def redrive(self, queue: str, ids: list[str] | None) -> int:
        async def republish(letter: DeadLetter) -> None:
            message = letter.message
            await self._publish(self.name(queue, "queue"), message.to_json(), {ATTEMPT_HEADER: 0}, message.id)

        return await self._take_dead(queue, ids, republish)

    async def purge_dead(self, queue: str, ids: list[str] | None) -> int:
        async def drop(letter: DeadLetter) -> None:
            return None

        return await self._take_dead(queue, ids, drop)

    async def _count(self, name: str) -> int:
        assert self.connection is not None
        channel = await self.connection.channel()
        try:
            declared = await channel.declare_queue(name, passive=True)
            return declared.declaration_result.message_count or 0
        except aio_pika.exceptions.ChannelClosed:
            return 0
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    async def stats(self, queue: str) -> dict[str, int]:
        held = self._held(queue)
        ready = await self._count(self.name(queue, "queue")) + len(held.buffer)
        delayed = sum([await self._count(self.name(queue, f"retry.{d}")) for d in held.delays])
        dead = await self._count(self.name(queue, "dlq"))
        return describe_stats(ready, delayed, len(held.in_flight), dead)

    async def queues(self) -> list[str]:
        return sorted(self._declared)


def create(engine: Any, config: ConfigView) -> RabbitMQStore:
    """``amqp_url`` (default ``amqp://localhost:5672``), ``name_prefix`` (default ``iii``), plus
    the topic-queue defaults of :func:`topic_policy`."""
    store = RabbitMQStore(config.str("amqp_url", "amqp://localhost:5672"), config.str("name_prefix", "iii"))
    store.topic_policy = topic_policy(config)
    return store
