"""State module (scope/key/value with memory, file and Redis adapters) for the iii engine.

Public API for other modules and third-party adapters: :class:`StateAdapter` and
:data:`MISSING` (the adapter interface), :class:`UpdateOp`, :func:`parse_ops`, :func:`apply_ops`
(update operations), and the built-in stores :class:`MemoryStore`, :class:`FileStore`,
:class:`RedisStore`.
"""

from .adapter import MISSING, ExpiryListener, StateAdapter, or_none
from .errors import guarded
from .file_store import FileStore
from .memory_store import MemoryStore
from .ops import UpdateOp, apply_ops, parse_ops
from .redis_store import RedisStore

__all__ = [
    "MISSING",
    "ExpiryListener",
    "FileStore",
    "MemoryStore",
    "RedisStore",
    "StateAdapter",
    "UpdateOp",
    "apply_ops",
    "guarded",
    "or_none",
    "parse_ops",
]
