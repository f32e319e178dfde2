"""Redis storage: one hash per scope (``<prefix><namespace>:<scope>``), JSON text values.

``get``/``set``/``delete``/``list`` are single Lua scripts, so each is atomic. ``update`` reads,
applies the ops in Python (the same code as the in-process stores, so every adapter has the
same semantics) and writes back in a ``WATCH``/``MULTI`` transaction that is retried when
another engine changed the scope in between; updates of one key from one engine queue on a
local lock first, so retries only happen between engines. Deadlines live in a sorted set
(``<prefix><namespace>-ttl``); a sweeper in every engine removes due keys with a script, so
each expiry is reported by exactly one engine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from iii_engine import StartupError
from redis.exceptions import RedisError, WatchError

from .adapter import MISSING, StateAdapter
from .background import Background
from .codec import dumps, loads
from .memory_store import SWEEP_INTERVAL_S, now_ms
from .ops import UpdateOp, apply_ops

CONNECT_TIMEOUT_S = 5.0
SWEEP_BATCH = 100

_GET = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local d = redis.call('ZSCORE', KEYS[2], ARGV[2])
if d and tonumber(d) <= tonumber(ARGV[3]) then return false end
return v
"""

_SET = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local d = redis.call('ZSCORE', KEYS[2], ARGV[3])
  if d and tonumber(d) <= tonumber(ARGV[4]) then old = false end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[2], ARGV[3])
else
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
end
return old
"""

_DELETE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  redis.call('HDEL', KEYS[1], ARGV[1])
  local d = redis.call('ZSCORE', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  if d and tonumber(d) <= tonumber(ARGV[3]) then return false end
end
return old
"""

_LIST = """
local all = redis.call('HGETALL', KEYS[1])
local check = redis.call('ZCARD', KEYS[2]) > 0
local now = tonumber(ARGV[2])
local out = {}
for i = 1, #all, 2 do
  local keep = true
  if check then
    local d = redis.call('ZSCORE', KEYS[2], ARGV[1] .. all[i])
    if d and tonumber(d) <= now then keep = false end
  end
  if keep then out[#out + 1] = all[i + 1] end
end
return out
"""

_SWEEP = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  local n, rest = string.match(m, '^(%d+):(.*)$')
  n = tonumber(n)
  local scope = string.sub(rest, 1, n)
  local field = string.sub(rest, n + 1)
  local old = redis.call('HGET', ARGV[2] .. scope, field)
  if old then
    redis.call('HDEL', ARGV[2] .. scope, field)
    out[#out + 1] = scope
    out[#out + 1] = field
    out[#out + 1] = old
  end
end
return out
"""


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _member_prefix(scope: str) -> str:
    """The deadline set's member for ``scope`` + key: ``<byte length of scope>:<scope><key>``."""
    return f"{len(scope.encode())}:{scope}"


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Any, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class RedisStore(StateAdapter):
    """``modules::state::adapters::RedisAdapter`` (and the stream module's storage)."""

    def __init__(self, url: str, namespace: str = "state", key_prefix: str = "") -> None:
        self.url = url
        self.client: aioredis.Redis = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        self._scope_prefix = f"{key_prefix}{namespace}:"
        self._ttl_key = f"{key_prefix}{namespace}-ttl"
        self._get = self.client.register_script(_GET)
        self._set = self.client.register_script(_SET)
        self._delete = self.client.register_script(_DELETE)
        self._list = self.client.register_script(_LIST)
        self._sweep = self.client.register_script(_SWEEP)
        self._locks = KeyedLocks()
        self.background = Background()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await asyncio.wait_for(self.client.ping(), CONNECT_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StartupError(f"cannot connect to Redis at {self.url}: {exc}") from None
        self.background.start(self._sweep_forever(), "ttl-sweeper")

    async def close(self) -> None:
        await self.background.stop()
        await self.client.aclose()

    # -- operations --------------------------------------------------------------------------

    def _keys(self, scope: str) -> list[str]:
        return [self._scope_prefix + scope, self._ttl_key]

    async def get(self, scope: str, key: str) -> Any:
        raw = await self._get(self._keys(scope), [key, _member_prefix(scope) + key, now_ms()])
        return MISSING if raw is None else loads(raw)

    async def set(self, scope: str, key: str, value: Any, ttl_ms: int | None = None) -> Any:
        now = now_ms()
        deadline = "" if ttl_ms is None else now + ttl_ms
        raw = await self._set(
            self._keys(scope), [key, dumps(value), _member_prefix(scope) + key, now, deadline]
        )
        return MISSING if raw is None else loads(raw)

    async def delete(self, scope: str, key: str) -> Any:
        raw = await self._delete(self._keys(scope), [key, _member_prefix(scope) + key, now_ms()])
        return MISSING if raw is None else loads(raw)

    async def update(
        self, scope: str, key: str, ops: list[UpdateOp], ttl_ms: int | None = None
    ) -> tuple[Any, Any]:
        hash_key, member = self._scope_prefix + scope, _member_prefix(scope) + key
        async with self._locks.hold((scope, key)):
            while True:
                try:
                    return await self._try_update(hash_key, key, member, ops, ttl_ms)
                except WatchError:
                    continue

    async def _try_update(
        self, hash_key: str, key: str, member: str, ops: list[UpdateOp], ttl_ms: int | None
    ) -> tuple[Any, Any]:
        async with self.client.pipeline(transaction=True) as pipe:
            await pipe.watch(hash_key)
            raw = await pipe.hget(hash_key, key)
            deadline = await pipe.zscore(self._ttl_key, member) if raw is not None else None
            now = now_ms()
            expired = deadline is not None and deadline <= now
            old = MISSING if raw is None or expired else loads(raw)
            new = apply_ops(None if old is MISSING else old, ops)
            pipe.multi()
            pipe.hset(hash_key, key, dumps(new))
            if ttl_ms is not None:
                pipe.zadd(self._ttl_key, {member: now + ttl_ms})
            elif expired:
                pipe.zrem(self._ttl_key, member)
            await pipe.execute()
            return old, new

    async def list(self, scope: str) -> list[Any]:
        rows = await self._list(self._keys(scope), [_member_prefix(scope), now_ms()])
        return [loads(raw) for raw in rows]

    async def list_scopes(self, prefix: str = "") -> list[str]:
        pattern = _glob_escape(self._scope_prefix + prefix) + "*"
        start = len(self._scope_prefix)
        scopes = {key.decode()[start:] async for key in self.client.scan_iter(match=pattern, count=1000)}
        return list(scopes)

    # -- expiry ------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Remove due keys (reporting each to the expiry listener); return how many."""
        rows = await self._sweep([self._ttl_key], [now_ms(), self._scope_prefix, SWEEP_BATCH])
        for index in range(0, len(rows), 3):
            scope, key, raw = rows[index].decode(), rows[index + 1].decode(), rows[index + 2]
            if self.expiry_listener is not None:
                self.expiry_listener(scope, key, loads(raw))
        return len(rows) // 3

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                while await self.sweep() == SWEEP_BATCH:
                    pass
            except RedisError:
                continue  # Redis away for a moment: the next round retries
