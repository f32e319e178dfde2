"""What travels through a queue: messages, dead letters and the delivery policy of a consumer."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Message:
    """One enqueued job. ``attempts`` counts deliveries so far (set by the store on reserve);
    it doubles as the delivery token: an ack for an older attempt is ignored."""

    data: Any
    function_id: str | None = None
    group: str | None = None
    traceparent: str | None = None
    baggage: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    enqueued_at: int = field(default_factory=now_ms)
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The immutable part (no ``attempts``): what a store keeps per message."""
        return {
            "id": self.id,
            "function_id": self.function_id,
            "data": self.data,
            "group": self.group,
            "traceparent": self.traceparent,
            "baggage": self.baggage,
            "enqueued_at": self.enqueued_at,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes | str, attempts: int = 0) -> Message:
        return cls.from_dict(orjson.loads(raw), attempts)

    @classmethod
    def from_dict(cls, body: dict[str, Any], attempts: int = 0) -> Message:
        return cls(
            data=body.get("data"),
            function_id=body.get("function_id"),
            group=body.get("group"),
            traceparent=body.get("traceparent"),
            baggage=body.get("baggage"),
            id=body["id"],
            enqueued_at=body.get("enqueued_at", 0),
            attempts=attempts,
        )


@dataclass(slots=True)
class DeadLetter:
    """A message that exhausted its attempts, with the last error and when it failed."""

    message: Message
    error: str
    failed_at: int = field(default_factory=now_ms)

    def describe(self) -> dict[str, Any]:
        """The item shape of ``queue::dlq::list``."""
        return {
            "id": self.message.id,
            "function_id": self.message.function_id,
            "data": self.message.data,
            "group": self.message.group,
            "attempts": self.message.attempts,
            "error": self.error,
            "failed_at": self.failed_at,
            "enqueued_at": self.message.enqueued_at,
        }


@dataclass(frozen=True, slots=True)
class Policy:
    """How one consumer delivers: attempts, back-off, parallelism, ordering, visibility."""

    max_attempts: int = 3
    backoff_ms: int = 1000
    concurrency: int = 10
    fifo: bool = False
    poll_interval_ms: int = 100
    visibility_timeout_ms: int = 30_000

    def backoff_after(self, failures: int) -> int:
        """Delay before the next attempt after ``failures`` failed ones: backoff x 2^(n-1)."""
        return self.backoff_ms * 2 ** max(failures - 1, 0)
