"""``modules::queue::RedisAdapter``: durable queues in Redis shared by any number of engines.

Each message is reserved by one consumer at a time (atomic Lua steps, see
:mod:`iii_queue.redis_scripts`); a reservation not acknowledged within the visibility timeout
(the engine died, the worker hung) makes the message ready again for any engine.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
import redis.asyncio as redis
from iii_engine import ConfigView

from . import redis_scripts as scripts
from .memory_store import FIFO_SCAN_WINDOW
from .message import DeadLetter, Message, Policy, now_ms
from .redis_batch import ScriptBatcher
from .store import QueueStore, describe_stats, topic_policy

MAX_CONNECTIONS = 32
"""Redis connections per engine; more concurrent calls wait up to ``POOL_WAIT_S`` for one."""
POOL_WAIT_S = 20


class RedisStore(QueueStore):
    """Queues under ``<key_prefix>:{<queue>}:*`` in one Redis database."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__()
        self.url = url
        self.prefix = prefix
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=POOL_WAIT_S
        )
        self.client = redis.Redis(connection_pool=pool)
        self._names_key = f"{prefix}:queues"
        register = self.client.register_script
        self._push = register(scripts.PUSH)
        self._reserve = register(scripts.RESERVE)
        self._ack = register(scripts.ACK)
        self._retry = register(scripts.RETRY)
        self._bury = register(scripts.BURY)
        self._redrive = register(scripts.REDRIVE)
        self._purge = register(scripts.PURGE)
        self._stats = register(scripts.STATS)
        self._batch = ScriptBatcher(self.client)

    @cache  # noqa: B019 - one small list per queue name, for the store's lifetime
    def _keys(self, queue: str) -> list[str]:
        return [f"{self.prefix}:{{{queue}}}:{name}" for name in scripts.KEYS_ORDER]

    async def open(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    async def push(self, queue: str, message: Message) -> None:
        await self._batch.call(
            self._push,
            [*self._keys(queue), self._names_key],
            [message.id, message.to_json(), message.group or "", queue],
        )
        self.wake(queue)

    async def reserve(self, queue: str, limit: int, policy: Policy) -> list[Message]:
        reply = await self._reserve(
            keys=self._keys(queue),
            args=[now_ms(), limit, policy.visibility_timeout_ms, int(policy.fifo), FIFO_SCAN_WINDOW],
        )
        return [Message.from_json(reply[i], int(reply[i + 1])) for i in range(0, len(reply), 2)]

    async def ack(self, queue: str, message: Message) -> None:
        await self._batch.call(self._ack, self._keys(queue), [message.id, message.attempts])

    async def retry(self, queue: str, message: Message, delay_ms: int) -> None:
        await self._batch.call(
            self._retry, self._keys(queue), [message.id, message.attempts, now_ms() + delay_ms]
        )

    async def bury(self, queue: str, message: Message, error: str) -> None:
        letter = DeadLetter(message, error)
        meta = orjson.dumps(
            {
                "error": error,
                "failed_at": letter.failed_at,
                "attempts": message.attempts,
                "group": message.group,
            }
        )
        await self._batch.call(
            self._bury, self._keys(queue), [message.id, message.attempts, meta, letter.failed_at]
        )

    async def dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        keys = dict(zip(scripts.KEYS_ORDER, self._keys(queue), strict=True))
        ids = await self.client.zrange(keys["deadidx"], 0, limit - 1) if limit > 0 else []
        if not ids:
            return []
        metas = await self.client.hmget(keys["dead"], ids)
        bodies = await self.client.hmget(keys["deadmsg"], ids)
        letters = []
        for meta_raw, body in zip(metas, bodies, strict=True):
            if meta_raw is None or body is None:
                continue
            meta = orjson.loads(meta_raw)
            letters.append(
                DeadLetter(Message.from_json(body, meta["attempts"]), meta["error"], meta["failed_at"])
            )
        return letters

    async def redrive(self, queue: str, ids: list[str] | None) -> int:
        if ids == []:
            return 0
        count = await self._redrive(keys=self._keys(queue), args=ids or [])
        if count:
            self.wake(queue)
        return int(count)

    async def purge_dead(self, queue: str, ids: list[str] | None) -> int:
        if ids == []:
            return 0
        return int(await self._purge(keys=self._keys(queue), args=ids or []))

    async def stats(self, queue: str) -> dict[str, int]:
        live, delayed, in_flight, dead = (int(v) for v in await self._stats(keys=self._keys(queue)))
        return describe_stats(live - delayed - in_flight, delayed, in_flight, dead)

    async def queues(self) -> list[str]:
        names = sorted(n.decode() for n in await self.client.smembers(self._names_key))
        result = []
        for name in names:
            counts = await self.stats(name)
            if counts["ready"] or counts["delayed"] or counts["in_flight"] or counts["dead"]:
                result.append(name)
        return result


def create(engine: Any, config: ConfigView) -> RedisStore:
    """``redis_url`` (default ``redis://localhost:6379``), ``key_prefix`` (default ``iii:queue``),
    plus the topic-queue defaults of :func:`topic_policy`."""
    store = RedisStore(
        config.str("redis_url", "redis://localhost:6379"), config.str("key_prefix", "iii:queue")
    )
    store.topic_policy = topic_policy(config)
    return store
