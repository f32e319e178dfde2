"""Group commit for Redis: script calls made while a round trip is under way share the next one."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis
from redis.commands.core import AsyncScript

MAX_BATCH = 500


class ScriptBatcher:
    """Sends concurrent script calls as one non-transactional pipeline (each call stays atomic)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._pending: list[tuple[AsyncScript, list[Any], list[Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def call(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((script, keys, args, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                pipeline = self.client.pipeline(transaction=False)
                for script, keys, args, _ in batch:
                    await script(keys=keys, args=args, client=pipeline)
                results = await pipeline.execute(raise_on_error=False)
            except Exception as exc:
                results = [exc] * len(batch)
            for (*_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
