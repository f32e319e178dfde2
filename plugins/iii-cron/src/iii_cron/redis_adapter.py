"""``modules::cron::RedisCronAdapter``: locks and job state in Redis, shared by several engines.

Keys: ``cron_lock:<job id>`` holds the claim's holder id (``PX lock_ttl_ms``, extended by
compare-and-``PEXPIRE`` while the job runs, released by compare-and-delete as in the reference);
``cron_last_fire:<job id>`` holds the scheduled time (ms) of the job's last claimed tick and
expires after a week without fires. A claim checks and sets both in one Lua script, so two
engines never fire the same tick.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from iii_engine import ConfigView, Engine
from redis.exceptions import RedisError

from .locks import DEFAULT_LOCK_TTL_MS, Claim

LAST_FIRE_TTL_S = 7 * 24 * 3600
CONNECT_TIMEOUT_S = 5.0

# KEYS: lock and last-fire key of each tick; ARGV: holder, lock TTL ms, last-fire TTL s, then the
# scheduled ms of each tick. Returns 1 (acquired), 0 (already fired) or -1 (locked) per tick.
CLAIM_SCRIPT = """
local results = {}
for i = 1, #KEYS / 2 do
  local lock, last_key, scheduled = KEYS[2 * i - 1], KEYS[2 * i], ARGV[3 + i]
  local last = redis.call('GET', last_key)
  if last and tonumber(last) >= tonumber(scheduled) then
    results[i] = 0
  elseif not redis.call('SET', lock, ARGV[1], 'NX', 'PX', ARGV[2]) then
    results[i] = -1
  else
    redis.call('SET', last_key, scheduled, 'EX', ARGV[3])
    results[i] = 1
  end
end
return results
"""

# KEYS: the lock; ARGV: holder, lock TTL ms. 1 if extended, 0 if the lock is gone or someone else's.
EXTEND_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

CLAIM_RESULTS = {1: Claim.ACQUIRED, 0: Claim.ALREADY_FIRED, -1: Claim.LOCKED}


def lock_key(job_id: str) -> str:
    return f"cron_lock:{job_id}"


def last_fire_key(job_id: str) -> str:
    return f"cron_last_fire:{job_id}"


class RedisCronAdapter:
    """Cron locks shared through Redis (``SET NX PX``, compare-and-``PEXPIRE``, compare-and-delete)
    with fenced claims."""

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        self.config = config
        self.redis_url: str = config.str("redis_url", "redis://localhost:6379")
        self.lock_ttl_ms: int = config.int("lock_ttl_ms", DEFAULT_LOCK_TTL_MS, minimum=1)
        config.reject_unknown()
        self.client: redis.Redis = redis.Redis.from_url(
            self.redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S, decode_responses=True
        )
        self._claim: Any = self.client.register_script(CLAIM_SCRIPT)
        self._extend: Any = self.client.register_script(EXTEND_SCRIPT)
        self._release: Any = self.client.register_script(RELEASE_SCRIPT)

    async def start(self) -> None:
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            raise self.config.error("redis_url", f"cannot connect to {self.redis_url}: {exc}") from None

    async def stop(self) -> None:
        await self.client.aclose()

    async def claim(self, ticks: list[tuple[str, int]], holder: str) -> list[Claim]:
        keys = [key for job_id, _ in ticks for key in (lock_key(job_id), last_fire_key(job_id))]
        args = [holder, self.lock_ttl_ms, LAST_FIRE_TTL_S, *(scheduled_ms for _, scheduled_ms in ticks)]
        results = await self._claim(keys=keys, args=args)
        return [CLAIM_RESULTS[int(result)] for result in results]

    async def extend(self, job_id: str, holder: str) -> bool:
        return bool(await self._extend(keys=[lock_key(job_id)], args=[holder, self.lock_ttl_ms]))

    async def release(self, job_id: str, holder: str) -> None:
        await self._release(keys=[lock_key(job_id)], args=[holder])

    async def last_fire(self, job_id: str) -> int | None:
        value = await self.client.get(last_fire_key(job_id))
        return int(value) if value is not None else None


def create(engine: Engine, config: ConfigView) -> RedisCronAdapter:
    """Entry point ``modules::cron::RedisCronAdapter``."""
    return RedisCronAdapter(engine, config)
