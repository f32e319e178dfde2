"""The stream module's adapter interface: item storage plus event distribution.

A stream adapter stores **stream → group → item → JSON value** and carries change messages
to the subscribers of every engine that shares it. Third parties register a factory in the
``iii.adapters`` entry-point group (``factory(engine, config_view) -> StreamAdapter``).

:class:`StoredStream` implements the storage half on top of any
:class:`iii_state.StateAdapter` (scope = stream and group), so an adapter only has to say how
messages travel (:meth:`StreamAdapter.publish`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from iii_state import StateAdapter, UpdateOp

MessageListener = Callable[[dict[str, Any]], None]
"""Receives every stream message published by any engine sharing the adapter."""


class StreamAdapter(ABC):
    """Storage and event distribution for the stream module. Writes are atomic per item."""

    listener: MessageListener | None = None

    def on_message(self, listener: MessageListener) -> None:
        """Deliver published messages (from this and other engines) to ``listener``."""
        self.listener = listener

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect / load data. Raise to fail engine start-up."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and disconnect."""

    @abstractmethod
    def publish(self, message: dict[str, Any]) -> None:
        """Hand ``message`` to the listener of every engine, in publication order, after the
        caller returns (never synchronously)."""

    @abstractmethod
    async def get(self, stream: str, group: str, item: str) -> Any:
        """The item's value or :data:`iii_state.MISSING`."""

    @abstractmethod
    async def set(self, stream: str, group: str, item: str, value: Any) -> Any:
        """Store; return the previous value or ``MISSING``."""

    @abstractmethod
    async def delete(self, stream: str, group: str, item: str) -> Any:
        """Remove; return the previous value or ``MISSING``."""

    @abstractmethod
    async def update(self, stream: str, group: str, item: str, ops: list[UpdateOp]) -> tuple[Any, Any]:
        """Apply update ops atomically; return ``(old or MISSING, new)``."""

    @abstractmethod
    async def list(self, stream: str, group: str) -> list[Any]:
        """Values of a group (``[]`` when unknown)."""

    @abstractmethod
    async def list_groups(self, stream: str) -> list[str]:
        """Group ids of a stream that hold items."""

    @abstractmethod
    async def list_all(self) -> dict[str, list[str]]:
        """Every stream with its group ids."""


def _escape(stream: str) -> str:
    return stream.replace("%", "%25").replace(":", "%3A")


def _unescape(stream: str) -> str:
    return stream.replace("%3A", ":").replace("%25", "%")


class StoredStream(StreamAdapter):
    """Items kept in a :class:`iii_state.StateAdapter`, one scope per ``<stream>:<group>``
    (``%`` and ``:`` in the stream name escaped, so every pair maps to its own scope)."""

    def __init__(self, store: StateAdapter) -> None:
        self.store = store

    @staticmethod
    def scope(stream: str, group: str) -> str:
        return f"{_escape(stream)}:{group}"

    async def start(self) -> None:
        await self.store.start()

    async def close(self) -> None:
        await self.store.close()

    async def get(self, stream: str, group: str, item: str) -> Any:
        return await self.store.get(self.scope(stream, group), item)

    async def set(self, stream: str, group: str, item: str, value: Any) -> Any:
        return await self.store.set(self.scope(stream, group), item, value)

    async def delete(self, stream: str, group: str, item: str) -> Any:
        return await self.store.delete(self.scope(stream, group), item)

    async def update(self, stream: str, group: str, item: str, ops: list[UpdateOp]) -> tuple[Any, Any]:
        return await self.store.update(self.scope(stream, group), item, ops)

    async def list(self, stream: str, group: str) -> list[Any]:
        return await self.store.list(self.scope(stream, group))

    async def list_groups(self, stream: str) -> list[str]:
        prefix = self.scope(stream, "")
        return [scope[len(prefix) :] for scope in await self.store.list_scopes(prefix)]

    async def list_all(self) -> dict[str, list[str]]:
        streams: dict[str, list[str]] = {}
        for scope in await self.store.list_scopes():
            stream, _, group = scope.partition(":")
            streams.setdefault(_unescape(stream), []).append(group)
        return streams
