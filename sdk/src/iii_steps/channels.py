"""Data channels (PROTOCOL §12): engine-brokered one-way pipes of text messages and binary chunks.

A channel ref (``{"channel_id", "access_key", "direction"}``) anywhere in an invocation's data is
replaced by a live :class:`ChannelReader` or :class:`ChannelWriter` before the handler runs. Each
opens its WebSocket on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

MAX_FRAME_BYTES = 64 * 1024
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def is_channel_ref(value: Any) -> bool:
    """Whether ``value`` is the JSON shape of a channel ref."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("channel_id"), str)
        and isinstance(value.get("access_key"), str)
        and value.get("direction") in ("read", "write")
    )


class _ChannelEnd:
    """One end of a channel; connects lazily to ``/ws/channels/{id}``."""

    direction: str

    def __init__(self, engine_url: str, ref: dict[str, Any]) -> None:
        self.engine_url = engine_url
        self.ref = {
            "channel_id": ref["channel_id"],
            "access_key": ref["access_key"],
            "direction": self.direction,
        }
        self._ws: ClientConnection | None = None
        self._lock: asyncio.Lock | None = None
        self.used = False

    @property
    def url(self) -> str:
        """The channel endpoint of this end."""
        return (
            f"{self.engine_url.rstrip('/')}/ws/channels/{self.ref['channel_id']}"
            f"?key={quote(self.ref['access_key'], safe='')}&dir={self.direction}"
        )

    async def _socket(self) -> ClientConnection:
        self.used = True
        if self._ws is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._ws is None:
                    self._ws = await websockets.connect(
                        self.url, compression=None, proxy=None, max_size=MAX_MESSAGE_BYTES
                    )
        return self._ws

    async def close(self) -> None:
        """Close this end (for a writer: end of stream)."""
        self.used = True
        if self._ws is not None:
            await self._ws.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ref['channel_id']}>"


class ChannelWriter(_ChannelEnd):
    """The write end: binary chunks (split into ≤ 64 KiB frames) and text messages, then :meth:`close`."""

    direction = "write"

    async def write(self, data: bytes) -> None:
        """Send ``data`` as binary chunks."""
        ws = await self._socket()
        for offset in range(0, max(len(data), 1), MAX_FRAME_BYTES):
            await ws.send(data[offset : offset + MAX_FRAME_BYTES])

    async def send_message(self, message: str | dict[str, Any]) -> None:
        """Send one text item; a dict is sent as JSON (e.g. ``{"type": "set_status", ...}``)."""
        ws = await self._socket()
        await ws.send(message if isinstance(message, str) else orjson.dumps(message).decode(), text=True)

    async def __aenter__(self) -> ChannelWriter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ChannelReader(_ChannelEnd):
    """The read end: iterate binary chunks; text items go to :meth:`messages` or are skipped."""

    direction = "read"

    async def items(self) -> AsyncIterator[bytes | str]:
        """Every item in order: ``bytes`` for binary chunks, ``str`` for text messages."""
        ws = await self._socket()
        try:
            async for frame in ws:
                yield frame
        except websockets.ConnectionClosed:
            return

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for item in self.items():
            if isinstance(item, bytes):
                yield item

    async def read_all(self) -> bytes:
        """The whole stream's binary content."""
        return b"".join([chunk async for chunk in self])


def resolve_channel_refs(engine_url: str, data: Any) -> Any:
    """``data`` with every channel ref (at any depth) replaced by a reader or writer.

    Containers are updated in place: ``data`` is a freshly decoded message owned by the caller.
    """
    if isinstance(data, dict):
        if "channel_id" in data and is_channel_ref(data):
            return (ChannelReader if data["direction"] == "read" else ChannelWriter)(engine_url, data)
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                data[key] = resolve_channel_refs(engine_url, value)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if isinstance(value, (dict, list)):
                data[index] = resolve_channel_refs(engine_url, value)
    return data
