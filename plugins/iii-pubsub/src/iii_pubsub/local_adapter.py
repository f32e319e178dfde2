"""``modules::pubsub::LocalAdapter``: fan-out inside this engine process."""

from __future__ import annotations

from typing import Any

from iii_engine import ConfigView

from .adapter import Deliver


class LocalAdapter:
    """Publishing delivers straight to this engine's subscribers."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def open(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def close(self) -> None:
        self._deliver = None

    async def publish(self, topic: str, data: Any) -> None:
        if self._deliver is not None:
            self._deliver(topic, data)

    async def subscribe(self, topic: str) -> None:
        return None

    async def unsubscribe(self, topic: str) -> None:
        return None


def create(engine: Any, config: ConfigView) -> LocalAdapter:
    config.reject_unknown()
    return LocalAdapter()
