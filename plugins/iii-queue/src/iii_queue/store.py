"""The interface every queue adapter implements, and the topic-queue defaults adapters share."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections import defaultdict

from iii_engine import ConfigView

from .message import DeadLetter, Message, Policy


class QueueStore(ABC):
    """Durable (or in-memory) storage of queues with reservations.

    A queue holds ready messages, delayed ones (waiting for a retry) and in-flight ones
    (reserved until ``visibility_timeout_ms`` passes, then ready again). With ``fifo``, at most
    one message per group is in flight or delayed at a time; a message without a group belongs
    to the queue-wide group, so a FIFO queue without groups runs one message at a time.
    """

    topic_policy: Policy = Policy()
    """Delivery defaults for topic queues (adapter config keys of the reference)."""

    def __init__(self) -> None:
        self._wakeups: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    @abstractmethod
    async def push(self, queue: str, message: Message) -> None:
        """Store a new message; when this returns the message is accepted."""

    @abstractmethod
    async def reserve(self, queue: str, limit: int, policy: Policy) -> list[Message]:
        """Take up to ``limit`` ready messages (delayed ones that are due and in-flight ones
        whose visibility timeout passed count as ready), incrementing their ``attempts``."""

    @abstractmethod
    async def ack(self, queue: str, message: Message) -> None:
        """Delete a delivered message (ignored if that delivery is no longer the current one)."""

    @abstractmethod
    async def retry(self, queue: str, message: Message, delay_ms: int) -> None:
        """Make a delivered message ready again after ``delay_ms`` (its FIFO group stays held)."""

    @abstractmethod
    async def bury(self, queue: str, message: Message, error: str) -> None:
        """Move a delivered message to the queue's dead letters."""

    @abstractmethod
    async def dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters of a queue."""

    @abstractmethod
    async def redrive(self, queue: str, ids: list[str] | None) -> int:
        """Put dead letters (all, or those ``ids``) back on the queue with fresh attempts."""

    @abstractmethod
    async def purge_dead(self, queue: str, ids: list[str] | None) -> int:
        """Delete dead letters (all, or those ``ids``)."""

    @abstractmethod
    async def stats(self, queue: str) -> dict[str, int]:
        """``ready``, ``delayed``, ``in_flight`` and ``dead`` counts of a queue."""

    @abstractmethod
    async def queues(self) -> list[str]:
        """Names of the queues that hold anything (ready, delayed, in flight or dead)."""

    async def release(self, queue: str) -> None:
        """This engine stopped consuming ``queue`` (its last consumer went away)."""
        return None

    async def open(self) -> None:
        """Connect or load; called at module start."""
        return None

    async def close(self) -> None:
        """Flush and disconnect; called at module stop."""
        return None

    def wake(self, queue: str) -> None:
        """Tell this engine's consumers of ``queue`` that work may be ready."""
        self._wakeups[queue].set()

    async def wait(self, queue: str, timeout_s: float) -> None:
        """Sleep until :meth:`wake` or ``timeout_s`` (other engines' pushes are seen by polling)."""
        event = self._wakeups[queue]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)
        event.clear()


def topic_policy(config: ConfigView) -> Policy:
    """Topic-queue defaults from an adapter config: ``max_attempts``, ``backoff_ms``,
    ``concurrency``, ``poll_interval_ms``, ``mode`` (``concurrent``/``fifo``), ``visibility_timeout_ms``."""
    mode = config.str("mode", "concurrent")
    if mode not in ("concurrent", "fifo"):
        raise config.error("mode", f"expected 'concurrent' or 'fifo', got {mode!r}")
    defaults = Policy()
    return Policy(
        max_attempts=config.int("max_attempts", defaults.max_attempts, minimum=1),
        backoff_ms=config.int("backoff_ms", defaults.backoff_ms, minimum=0),
        concurrency=config.int("concurrency", defaults.concurrency, minimum=1),
        fifo=mode == "fifo",
        poll_interval_ms=config.int("poll_interval_ms", defaults.poll_interval_ms, minimum=1),
        visibility_timeout_ms=config.int("visibility_timeout_ms", defaults.visibility_timeout_ms, minimum=1),
    )


def describe_stats(ready: int, delayed: int, in_flight: int, dead: int) -> dict[str, int]:
    """The shape of ``queue::stats``: ``depth`` is what still has to run (ready + delayed)."""
    return {
        "depth": ready + delayed,
        "ready": ready,
        "delayed": delayed,
        "in_flight": in_flight,
        "dead": dead,
    }
