"""Stream module (items pushed to WebSocket clients on :3112) for the iii engine.

Public API for third-party adapters: :class:`StreamAdapter` (the interface) and
:class:`StoredStream` (storage on any :class:`iii_state.StateAdapter`).
"""

from .adapter import MessageListener, StoredStream, StreamAdapter

__all__ = ["MessageListener", "StoredStream", "StreamAdapter"]
