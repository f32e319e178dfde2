"""In-process storage: dicts in insertion order, with per-key deadlines.

Every operation runs without awaiting between its read and its write, so it is atomic on the
event loop. Deadlines are epoch milliseconds (so the file store can persist them); an expired
key reads as missing at once and is removed by a sweeper within ``SWEEP_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from typing import Any

from .adapter import MISSING, StateAdapter
from .background import Background
from .ops import UpdateOp, apply_ops

SWEEP_INTERVAL_S = 0.1


def now_ms() -> int:
    return int(time.time() * 1000)


class MemoryStore(StateAdapter):
    """``modules::state::adapters::KvStore`` with ``store_method: in_memory``."""

    def __init__(self) -> None:
        self._scopes: dict[str, dict[str, Any]] = {}
        self._deadlines: dict[tuple[str, str], int] = {}
        self._heap: list[tuple[int, str, str]] = []
        self.background = Background()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.background.start(self._sweep_forever(), "ttl-sweeper")

    async def close(self) -> None:
        await self.background.stop()

    # -- hooks for subclasses ----------------------------------------------------------------

    def changed(self, scope: str) -> None:
        """Called after every change of ``scope`` (the file store marks it dirty)."""

    # -- operations --------------------------------------------------------------------------

    async def get(self, scope: str, key: str) -> Any:
        return self._read(scope, key)

    async def set(self, scope: str, key: str, value: Any, ttl_ms: int | None = None) -> Any:
        old = self._read(scope, key)
        self._write(scope, key, value, ttl_ms, keep_deadline=False)
        return old

    async def delete(self, scope: str, key: str) -> Any:
        old = self._read(scope, key)
        if old is not MISSING:
            self._remove(scope, key)
        return old

    async def update(
        self, scope: str, key: str, ops: list[UpdateOp], ttl_ms: int | None = None
    ) -> tuple[Any, Any]:
        old = self._read(scope, key)
        new = apply_ops(None if old is MISSING else old, ops)
        self._write(scope, key, new, ttl_ms, keep_deadline=True)
        return old, new

    async def list(self, scope: str) -> list[Any]:
        items = self._scopes.get(scope)
        if not items:
            return []
        self._expire_due(now_ms())
        return list(items.values())

    async def list_scopes(self, prefix: str = "") -> list[str]:
        return [scope for scope in self._scopes if scope.startswith(prefix)]

    # -- internals ---------------------------------------------------------------------------

    def _read(self, scope: str, key: str) -> Any:
        items = self._scopes.get(scope)
        if items is None or key not in items:
            return MISSING
        deadline = self._deadlines.get((scope, key))
        if deadline is not None and deadline <= now_ms():
            self._expire(scope, key)
            return MISSING
        return items[key]

    def _write(self, scope: str, key: str, value: Any, ttl_ms: int | None, *, keep_deadline: bool) -> None:
        self._scopes.setdefault(scope, {})[key] = value
        if ttl_ms is not None:
            self.set_deadline(scope, key, now_ms() + ttl_ms)
        elif not keep_deadline:
            self._deadlines.pop((scope, key), None)
        self.changed(scope)

    def _remove(self, scope: str, key: str) -> Any:
        self._deadlines.pop((scope, key), None)
        items = self._scopes[scope]
        old = items.pop(key)
        if not items:
            del self._scopes[scope]  # no memory kept for scopes that come and go
        self.changed(scope)
        return old

    def set_deadline(self, scope: str, key: str, deadline: int) -> None:
        """Give an existing key a deadline (epoch ms)."""
        self._deadlines[(scope, key)] = deadline
        heapq.heappush(self._heap, (deadline, scope, key))

    def deadline_of(self, scope: str, key: str) -> int | None:
        return self._deadlines.get((scope, key))

    def items_of(self, scope: str) -> dict[str, Any]:
        """The live mapping of a scope (empty when unknown); callers must not mutate it."""
        return self._scopes.get(scope, {})

    def load_scope(self, scope: str, items: dict[str, Any]) -> None:
        """Install a scope read from elsewhere (the file store at start-up)."""
        self._scopes[scope] = items

    def _expire(self, scope: str, key: str) -> None:
        old = self._remove(scope, key)
        if self.expiry_listener is not None:
            self.expiry_listener(scope, key, old)

    def _expire_due(self, now: int) -> None:
        while self._heap and self._heap[0][0] <= now:
            deadline, scope, key = heapq.heappop(self._heap)
            if self._deadlines.get((scope, key)) == deadline:
                self._expire(scope, key)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            self._expire_due(now_ms())
