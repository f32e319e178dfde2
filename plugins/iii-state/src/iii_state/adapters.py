"""Entry points of the built-in state adapters (group ``iii.adapters``), and the builders the
stream module reuses for its own storage."""

from __future__ import annotations

from iii_engine import ConfigView, Engine

from .adapter import StateAdapter
from .file_store import FileStore
from .memory_store import MemoryStore
from .redis_store import RedisStore

STORE_METHODS = ("in_memory", "file_based")
DEFAULT_FILE_PATH = "kv_store_data.db"
DEFAULT_SAVE_INTERVAL_MS = 5000
DEFAULT_REDIS_URL = "redis://localhost:6379"


def build_kv_store(engine: Engine, config: ConfigView, namespace: str) -> MemoryStore:
    """``store_method`` (``in_memory`` | ``file_based``), ``file_path`` (a directory),
    ``save_interval_ms``. An unknown ``store_method`` means in-memory, as in the reference."""
    method = config.str("store_method", "in_memory")
    directory = config.str("file_path", DEFAULT_FILE_PATH)
    interval = config.int("save_interval_ms", DEFAULT_SAVE_INTERVAL_MS, minimum=0)
    if method not in STORE_METHODS:
        engine.logger("iii::modules::state").warning(
            "unknown store_method, keeping data in memory",
            store_method=method,
            location=str(config.location_of()),
        )
    if method == "file_based":
        return FileStore(directory, interval, namespace)
    return MemoryStore()


def build_redis_store(config: ConfigView, namespace: str) -> RedisStore:
    """``redis_url`` and ``key_prefix`` (prepended to every key; ``""`` by default)."""
    return RedisStore(config.str("redis_url", DEFAULT_REDIS_URL), namespace, config.str("key_prefix", ""))


def create_kv_store(engine: Engine, config: ConfigView) -> StateAdapter:
    """``modules::state::adapters::KvStore``."""
    store = build_kv_store(engine, config, "state")
    config.reject_unknown()
    return store


def create_redis_store(engine: Engine, config: ConfigView) -> StateAdapter:
    """``modules::state::adapters::RedisAdapter``."""
    store = build_redis_store(config, "state")
    config.reject_unknown()
    return store
