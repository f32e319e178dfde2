"""The interface of a pubsub adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Deliver = Callable[[str, Any], None]
"""Called with ``(topic, data)`` for every message that reaches this engine."""


class PubSubAdapter(Protocol):
    async def open(self, deliver: Deliver) -> None:
        """Start receiving; messages of subscribed topics go to ``deliver``."""

    async def close(self) -> None:
        """Stop receiving and disconnect."""

    async def publish(self, topic: str, data: Any) -> None:
        """Send ``data`` to every engine subscribed to ``topic`` (this one included)."""

    async def subscribe(self, topic: str) -> None:
        """This engine has its first subscriber of ``topic``."""

    async def unsubscribe(self, topic: str) -> None:
        """This engine has no subscriber of ``topic`` any more."""
