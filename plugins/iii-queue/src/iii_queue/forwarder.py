"""The interface of queue adapters that forward messages instead of storing them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from iii_engine import Trigger

RunTrigger = Callable[[Any, str | None, str | None], Awaitable[Any]]
"""Runs one topic message (``data, traceparent, baggage``) on a ``queue`` trigger of this engine:
its condition, then its function; returns the result, raises ``InvocationError`` on failure."""


class QueueForwarder(ABC):
    """A queue adapter that hands every message to a system which queues and delivers it.

    With such an adapter this engine stores and consumes nothing itself: named-queue enqueues,
    topic publications and ``queue`` triggers are forwarded, and ``queue::stats`` /
    ``queue::dlq::*`` are answered where the messages are. Named queues are configured there,
    not in this engine's ``queue_configs``.
    """

    @abstractmethod
    async def enqueue_named(
        self, queue: str, function_id: str, data: Any, traceparent: str | None, baggage: str | None
    ) -> str:
        """Enqueue a call of ``function_id`` on the named queue; returns the receipt id.
        Refusals raise ``InvocationError`` (``enqueue_error``)."""

    @abstractmethod
    async def enqueue_topic(
        self, topic: str, data: Any, traceparent: str | None, baggage: str | None
    ) -> None:
        """Publish a message on a topic queue."""

    @abstractmethod
    async def subscribe(self, trigger: Trigger, run: RunTrigger) -> None:
        """Deliver the messages of the trigger's topic through ``run`` (retries and dead letters
        are the forwarding target's)."""

    @abstractmethod
    async def unsubscribe(self, trigger: Trigger) -> None:
        """Stop delivering messages to ``trigger``."""

    @abstractmethod
    async def call(self, function_id: str, data: Any) -> Any:
        """Answer ``queue::stats`` or a ``queue::dlq::*`` function where the messages are."""

    async def open(self) -> None:
        """Connect; called at module start."""
        return None

    async def close(self) -> None:
        """Disconnect; called at module stop."""
        return None
