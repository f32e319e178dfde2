"""The context a step handler receives: state, streams, queues, pub/sub, logging, trace ids.

Every operation is an invocation of the engine function that implements it (``state::*``,
``stream::*``, ``enqueue``, ``publish``), made in the handler's trace span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from .logger import Logger
from .tracing import current_trace

if TYPE_CHECKING:
    from .client import Worker


class UpdateOp(TypedDict, total=False):
    """One update operation of ``state::update`` / ``stream::update`` (``type``: set, merge,
    increment, decrement, remove)."""

    type: str
    path: str | None
    value: Any
    by: int


class State:
    """Two-level key/value store: scope → key → JSON value (``state::*``)."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def get(self, scope: str, key: str) -> Any:
        """The value, or ``None`` when the key does not exist."""
        return await self._worker.invoke("state::get", {"scope": scope, "key": key})

    async def set(self, scope: str, key: str, value: Any) -> dict[str, Any]:
        """Store ``value``; returns ``{"old_value", "new_value"}``."""
        return await self._worker.invoke("state::set", {"scope": scope, "key": key, "value": value})

    async def update(self, scope: str, key: str, ops: list[UpdateOp]) -> dict[str, Any]:
        """Apply ``ops`` atomically; returns ``{"old_value", "new_value"}``."""
        return await self._worker.invoke("state::update", {"scope": scope, "key": key, "ops": ops})

    async def delete(self, scope: str, key: str) -> Any:
        """Delete the key; returns the deleted value (``None`` if there was none)."""
        return await self._worker.invoke("state::delete", {"scope": scope, "key": key})

    async def list(self, scope: str) -> list[Any]:
        """Every value stored in ``scope``."""
        return await self._worker.invoke("state::list", {"scope": scope}) or []

    async def list_groups(self) -> list[str]:
        """Every scope."""
        result = await self._worker.invoke("state::list_groups", {})
        return result.get("groups", []) if isinstance(result, dict) else []


class Stream:
    """One named stream: group → item → JSON value; changes are pushed to subscribed clients."""

    def __init__(self, worker: Worker, name: str) -> None:
        self._worker = worker
        self.name = name

    def _ids(self, group_id: str, item_id: str) -> dict[str, Any]:
        return {"stream_name": self.name, "group_id": group_id, "item_id": item_id}

    async def get(self, group_id: str, item_id: str) -> Any:
        return await self._worker.invoke("stream::get", self._ids(group_id, item_id))

    async def set(self, group_id: str, item_id: str, data: Any) -> dict[str, Any]:
        """Store an item (subscribers get a ``create`` or ``update`` event)."""
        return await self._worker.invoke("stream::set", {**self._ids(group_id, item_id), "data": data})

    async def update(self, group_id: str, item_id: str, ops: list[UpdateOp]) -> dict[str, Any]:
        return await self._worker.invoke("stream::update", {**self._ids(group_id, item_id), "ops": ops})

    async def delete(self, group_id: str, item_id: str) -> dict[str, Any]:
        return await self._worker.invoke("stream::delete", self._ids(group_id, item_id))

    async def list(self, group_id: str) -> list[Any]:
        """Every item value of a group."""
        return (
            await self._worker.invoke("stream::list", {"stream_name": self.name, "group_id": group_id}) or []
        )

    async def list_groups(self) -> list[str]:
        return await self._worker.invoke("stream::list_groups", {"stream_name": self.name}) or []

    async def send(self, group_id: str, event_type: str, data: Any, item_id: str | None = None) -> None:
        """Push a custom event to the group's subscribers (nothing is stored)."""
        message: dict[str, Any] = {
            "stream_name": self.name,
            "group_id": group_id,
            "type": event_type,
            "data": data,
        }
        if item_id is not None:
            message["id"] = item_id
        await self._worker.invoke("stream::send", message)


class Streams:
    """Access streams by name: ``ctx.streams["orders"]`` or ``ctx.streams.orders``."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def __getitem__(self, name: str) -> Stream:
        return Stream(self._worker, name)

    def __getattr__(self, name: str) -> Stream:
        if name.startswith("_"):
            raise AttributeError(name)
        return Stream(self._worker, name)


@dataclass(frozen=True, slots=True)
class TriggerInfo:
    """What started this run: the trigger type (``http``, ``queue``, ``subscribe``, ``cron``, …)
    and, for HTTP, the route."""

    type: str
    index: int
    method: str | None = None
    path: str | None = None
    topic: str | None = None


class Context:
    """Passed to every step handler as its second argument."""

    def __init__(self, worker: Worker, step_name: str, trigger: TriggerInfo, logger: Logger) -> None:
        self.worker = worker
        self.step_name = step_name
        self.trigger = trigger
        self.state = State(worker)
        self.streams = Streams(worker)
        self.logger = logger

    async def enqueue(self, topic: str, data: Any) -> None:
        """Put ``data`` on the topic queue ``topic`` (one ``queue`` subscriber gets it, with retries)."""
        await self.worker.invoke("enqueue", {"topic": topic, "data": data})

    async def publish(self, topic: str, data: Any) -> None:
        """Publish ``data`` to every ``subscribe`` trigger on ``topic``."""
        await self.worker.invoke("publish", {"topic": topic, "data": data})

    async def invoke(self, function_id: str, data: Any = None, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """Call any function and wait for its result."""
        return await self.worker.invoke(function_id, data, timeout=timeout)

    @property
    def trace_id(self) -> str | None:
        """The W3C trace id of this run (shared by every call it makes)."""
        trace = current_trace()
        return trace.trace_id if trace else None

    @property
    def traceparent(self) -> str | None:
        """This run's span as a ``traceparent`` value."""
        trace = current_trace()
        return trace.traceparent if trace else None
