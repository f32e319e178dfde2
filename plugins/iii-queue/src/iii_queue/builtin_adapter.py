"""``modules::queue::BuiltinQueueAdapter``: in-memory (default) or file-based queues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iii_engine import ConfigView

from .file_store import FileStore
from .memory_store import MemoryStore
from .store import QueueStore, topic_policy


def create(engine: Any, config: ConfigView) -> QueueStore:
    """``store_method`` (``in_memory`` | ``file_based``), ``file_path`` (a directory),
    ``save_interval_ms``, plus the topic-queue defaults of :func:`topic_policy`."""
    method = config.str("store_method", "in_memory")
    if method not in ("in_memory", "file_based"):
        raise config.error("store_method", f"expected 'in_memory' or 'file_based', got {method!r}")
    store: QueueStore
    if method == "file_based":
        directory = Path(config.str("file_path", "kv_store_data.db"))
        store = FileStore(directory, config.int("save_interval_ms", 5000, minimum=1))
    else:
        store = MemoryStore()
    store.topic_policy = topic_policy(config)
    return store
