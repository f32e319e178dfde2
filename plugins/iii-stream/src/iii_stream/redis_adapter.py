"""``modules::stream::adapters::RedisAdapter``: one Redis hash per group, messages on the
Redis pub/sub channel ``<key_prefix>stream::events`` so every engine's subscribers see them."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from iii_engine import ConfigView, Engine
from iii_state.adapters import build_redis_store
from iii_state.codec import dumps, loads
from iii_state.redis_store import RedisStore
from redis.exceptions import RedisError

from .adapter import StoredStream, StreamAdapter

CHANNEL = "stream::events"
RECONNECT_DELAY_S = 1.0
PUBLISH_QUEUE_SIZE = 10_000
SUBSCRIBE_TIMEOUT_S = 5.0


class RedisStream(StoredStream):
    """Publishes through Redis pub/sub; a subscriber task feeds every engine's listener.

    Messages go out in publication order through one publisher task; a message that cannot
    be published (Redis away) is logged and dropped, storage calls fail on their own.
    """

    store: RedisStore

    def __init__(self, engine: Engine, store: RedisStore, channel: str) -> None:
        super().__init__(store)
        self.channel = channel
        self._log = engine.logger("iii::modules::stream")
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(PUBLISH_QUEUE_SIZE)
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        await super().start()
        self.store.background.start(self._subscribe_forever(), "stream-redis-subscriber")
        self.store.background.start(self._publish_forever(), "stream-redis-publisher")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), SUBSCRIBE_TIMEOUT_S)

    def publish(self, message: dict[str, Any]) -> None:
        try:
            self._outbox.put_nowait(dumps(message))
        except asyncio.QueueFull:
            self._log.error("stream message dropped: Redis publishing is too far behind")

    async def _publish_forever(self) -> None:
        while True:
            payload = await self._outbox.get()
            try:
                await self.store.client.publish(self.channel, payload)
            except RedisError as exc:
                self._log.error("stream message not published", error=str(exc))

    async def _subscribe_forever(self) -> None:
        while True:
            try:
                async with self.store.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    async for item in pubsub.listen():
                        if item.get("type") == "message" and self.listener is not None:
                            self._deliver(item["data"])
            except (RedisError, OSError) as exc:
                self._log.warning("stream subscription to Redis lost, reconnecting", error=str(exc))
                await asyncio.sleep(RECONNECT_DELAY_S)

    def _deliver(self, payload: bytes) -> None:
        try:
            message = loads(payload)
        except ValueError:
            self._log.warning("undecodable stream message ignored")
            return
        if isinstance(message, dict) and self.listener is not None:
            self.listener(message)


def create(engine: Engine, config: ConfigView) -> StreamAdapter:
    """``redis_url`` (default ``redis://localhost:6379``) and ``key_prefix`` (default ``""``)."""
    store = build_redis_store(config, "stream")
    channel = config.str("key_prefix", "") + CHANNEL
    config.reject_unknown()
    return RedisStream(engine, store, channel)
