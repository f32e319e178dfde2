"""WebSocket clients of the stream port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.sync.client import ClientConnection, connect


@contextmanager
def stream_client(engine, path: str = "/", **options: Any) -> Iterator[ClientConnection]:
    """A client of the engine's stream port (``options`` go to ``websockets`` ``connect``)."""
    with connect(f"ws://127.0.0.1:{engine.ports['STREAM_PORT']}{path}", open_timeout=5, **options) as ws:
        yield ws


def subscription(kind: str, name: str, stream: str, group: str, item: str | None = None) -> str:
    """A ``join``/``leave`` frame."""
    data = {"subscriptionId": name, "streamName": stream, "groupId": group}
    if item is not None:
        data["id"] = item
    return json.dumps({"type": kind, "data": data})


def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def nothing_arrives(ws: ClientConnection, timeout: float = 0.4) -> bool:
    try:
        ws.recv(timeout=timeout)
    except TimeoutError:
        return True
    return False
