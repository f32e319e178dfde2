"""A consumer: reserves messages of one queue and delivers them, with retries and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from iii_engine import Engine, InvocationError

from .message import Message, Policy
from .store import QueueStore

Deliver = Callable[[Message], Awaitable[None]]
"""Runs one message; raising :class:`InvocationError` counts as a failed attempt."""

STORE_ERROR_PAUSE_S = 1.0


class Consumer:
    """Keeps up to ``policy.concurrency`` deliveries of ``queue`` in flight.

    Success acknowledges; a failure is retried after ``backoff_ms x 2^(n-1)`` until
    ``max_attempts`` deliveries failed, then the message is buried in the dead letters.
    """

    def __init__(
        self, engine: Engine, store: QueueStore, queue: str, policy: Policy, deliver: Deliver, log: Any
    ) -> None:
        self.engine = engine
        self.store = store
        self.queue = queue
        self.policy = policy
        self.deliver = deliver
        self.log = log
        self._running: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = self.engine.spawn(self._run(), name=f"queue-consumer:{self.queue}")

    async def stop(self) -> None:
        """Stop taking messages; deliveries already running finish on their own."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task

    async def _run(self) -> None:
        poll_s = self.policy.poll_interval_ms / 1000
        while True:
            free = self.policy.concurrency - len(self._running)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                messages = await self.store.reserve(self.queue, free, self.policy)
            except Exception as exc:
                self.log.error("queue store failed to reserve", queue=self.queue, error=repr(exc))
                await asyncio.sleep(STORE_ERROR_PAUSE_S)
                continue
            if not messages:
                await self.store.wait(self.queue, poll_s)
                continue
            for message in messages:
                task = asyncio.get_running_loop().create_task(self._handle(message))
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot_freed.set()
        if self.policy.fifo:
            self.store.wake(self.queue)

    async def _handle(self, message: Message) -> None:
        try:
            try:
                await self.deliver(message)
            except InvocationError as exc:
                await self._failed(message, f"{exc.code}: {exc.message}")
            else:
                await self.store.ack(self.queue, message)
        except Exception as exc:
            # the store is unreachable: the message comes back after its visibility timeout
            self.log.error("queue store failed", queue=self.queue, message_id=message.id, error=repr(exc))

    async def _failed(self, message: Message, error: str) -> None:
        if message.attempts >= self.policy.max_attempts:
            self.log.warning(
                "message moved to the dead letters",
                queue=self.queue,
                message_id=message.id,
                attempts=message.attempts,
                error=error,
            )
            await self.store.bury(self.queue, message, error)
            return
        delay_ms = self.policy.backoff_after(message.attempts)
        self.log.debug("message will be retried", queue=self.queue, message_id=message.id, delay_ms=delay_ms)
        await self.store.retry(self.queue, message, delay_ms)
