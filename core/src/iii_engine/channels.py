"""Data channels: engine-brokered, one-directional, ordered pipes of text and binary items."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .ids import random_uuid

DEFAULT_BUFFER_SIZE = 64
MAX_BUFFER_SIZE = 1024
SWEEP_INTERVAL_S = 60.0
UNATTACHED_TTL_S = 300.0

Item = str | bytes


class ChannelClosed(Exception):
    """The other end of the channel went away."""


class Channel:
    """One channel with a bounded FIFO of items, one write end and one read end.

    Each end may be attached once (by a WebSocket on ``/ws/channels/…`` or by a module through
    :meth:`attach`). The writer calls :meth:`put` then :meth:`finish`; the reader calls
    :meth:`get` until it returns ``None`` (end of stream). The item queue is only built when
    items first move, so a channel nobody uses (most HTTP requests' ``request_body`` and
    ``response`` channels) costs two ids and a few attributes.
    """

    __slots__ = (
        "_capacity",
        "_items",
        "attached",
        "created_at",
        "detached",
        "finished",
        "id",
        "key",
        "on_attach",
        "reader_gone",
    )

    _END = object()

    def __init__(self, buffer_size: int = DEFAULT_BUFFER_SIZE) -> None:
        self.id = random_uuid()
        self.key = random_uuid()
        self.created_at = time.monotonic()
        self._capacity = max(1, min(buffer_size, MAX_BUFFER_SIZE))
        self._items: asyncio.Queue[Any] | None = None
        self.attached: dict[str, bool] = {"read": False, "write": False}
        self.detached: set[str] = set()
        self.finished = False
        self.reader_gone = False
        self.on_attach: Callable[[str], None] | None = None
        """Called with the direction whenever an end is attached (lets a module that holds the
        other end start reading only once a writer exists)."""

    @property
    def _queue(self) -> asyncio.Queue[Any]:
        """The item queue, built on first use (holding the end marker if already finished)."""
        if self._items is None:
            self._items = asyncio.Queue(self._capacity)
            if self.finished:
                self._items.put_nowait(self._END)
        return self._items

    def ref(self, direction: str) -> dict[str, str]:
        """The JSON ref a holder uses to attach to the ``direction`` end."""
        return {"channel_id": self.id, "access_key": self.key, "direction": direction}

    def attach(self, direction: str) -> bool:
        """Claim an end; ``False`` when it was already attached."""
        if self.attached[direction]:
            return False
        self.attached[direction] = True
        if self.on_attach is not None:
            self.on_attach(direction)
        return True

    async def put(self, item: Item) -> None:
        if self.reader_gone:
            raise ChannelClosed("the reader went away")
        await self._queue.put(item)

    def finish(self) -> None:
        """The writer is done: the reader sees end of stream after draining."""
        if not self.finished:
            self.finished = True
            if self._items is None:
                return  # the queue, once built, starts with the end marker
            try:
                self._queue.put_nowait(self._END)
            except asyncio.QueueFull:
                asyncio.get_running_loop().create_task(self._queue.put(self._END))

    async def get(self) -> Item | None:
        item = await self._queue.get()
        if item is self._END:
            self._queue.put_nowait(self._END)  # later reads see end of stream too
            return None
        return item

    def close_reader(self) -> None:
        """The reader went away: the writer's next put fails and buffered items are dropped."""
        self.reader_gone = True
        while self._items is not None and not self._items.empty():
            self._items.get_nowait()

    def detach(self, direction: str) -> bool:
        """An attached end went away; ``True`` once both ends have come and gone."""
        self.detached.add(direction)
        if direction == "write":
            self.finish()
        elif not self.finished:
            self.close_reader()
        return len(self.detached) == 2


class ChannelRegistry:
    """Live channels by id, with the sweep of abandoned ones."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def create(self, buffer_size: int | None = None) -> Channel:
        channel = Channel(DEFAULT_BUFFER_SIZE if buffer_size is None else buffer_size)
        self._channels[channel.id] = channel
        return channel

    def lookup(self, channel_id: str, key: str) -> Channel | None:
        channel = self._channels.get(channel_id)
        return channel if channel is not None and channel.key == key else None

    def discard(self, channel: Channel) -> None:
        self._channels.pop(channel.id, None)

    def sweep(self, now: float | None = None) -> int:
        """Drop channels older than the TTL with an end never attached; return how many."""
        now = time.monotonic() if now is None else now
        stale = [
            c
            for c in self._channels.values()
            if now - c.created_at > UNATTACHED_TTL_S and not (c.attached["read"] and c.attached["write"])
        ]
        for channel in stale:
            channel.finish()
            self.discard(channel)
        return len(stale)

    async def run_sweeper(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            self.sweep()

    def __len__(self) -> int:
        return len(self._channels)
