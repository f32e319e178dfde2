"""The stream message envelope shared by triggers, subscribers and the client WebSocket."""

from __future__ import annotations

import time
from typing import Any


def stream_message(stream: str, group: str, item: str | None, event: dict[str, Any]) -> dict[str, Any]:
    """``{"type": "stream", "timestamp", "streamName", "groupId", "id", "event"}``."""
    return {
        "type": "stream",
        "timestamp": int(time.time() * 1000),
        "streamName": stream,
        "groupId": group,
        "id": item,
        "event": event,
    }
