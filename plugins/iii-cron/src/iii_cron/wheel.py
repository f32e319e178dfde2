"""One timer for all cron jobs: a heap of wall-clock due times served by a single task."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class TimerWheel(Generic[Item]):
    """Calls ``on_due([(item, due), ...])`` as soon as the wall clock reaches the scheduled times.

    Everything due at the same wake-up is handed over as one batch, so its owner can claim and
    start all of them before doing anything slower.

    Sleeps exactly until the earliest due time (re-checking the wall clock, so a wake-up a
    little early sleeps again), and is woken early when something earlier is scheduled. Items
    are never removed: ``on_due`` decides whether a popped item is still wanted.
    """

    def __init__(self, on_due: Callable[[list[tuple[Item, float]]], None]) -> None:
        self._on_due = on_due
        self._heap: list[tuple[float, int, Item]] = []
        self._order = itertools.count()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, due: float, item: Item) -> None:
        """Hand ``item`` to ``on_due`` at POSIX time ``due``."""
        if not self._heap or due < self._heap[0][0]:
            self._changed.set()
        heapq.heappush(self._heap, (due, next(self._order), item))

    async def run(self) -> None:
        """Serve the heap forever (cancel the task to stop)."""
        while True:
            if not self._heap:
                await self._changed.wait()
                self._changed.clear()
                continue
            delay = self._heap[0][0] - time.time()
            if delay > 0:
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), delay)
                except TimeoutError:
                    pass
                continue
            now = time.time()
            batch = []
            while self._heap and self._heap[0][0] <= now:
                due, _, item = heapq.heappop(self._heap)
                batch.append((item, due))
            self._on_due(batch)
