"""``modules::stream::adapters::KvStore``: items in process memory (optionally persisted to a
directory), messages delivered to this engine's subscribers only."""

from __future__ import annotations

import asyncio
from typing import Any

from iii_engine import ConfigView, Engine
from iii_state.adapters import build_kv_store

from .adapter import StoredStream, StreamAdapter

DEFAULT_CHANNEL_SIZE = 256


class LocalStream(StoredStream):
    """Publishes by scheduling the listener on the event loop, in order."""

    def publish(self, message: dict[str, Any]) -> None:
        if self.listener is not None:
            asyncio.get_running_loop().call_soon(self.listener, message)


def create(engine: Engine, config: ConfigView) -> StreamAdapter:
    """``store_method`` (``in_memory`` | ``file_based``), ``file_path``, ``save_interval_ms``;
    ``channel_size`` is accepted for compatibility (delivery here needs no buffer)."""
    store = build_kv_store(engine, config, "stream")
    config.int("channel_size", DEFAULT_CHANNEL_SIZE, minimum=1)
    config.reject_unknown()
    return LocalStream(store)
