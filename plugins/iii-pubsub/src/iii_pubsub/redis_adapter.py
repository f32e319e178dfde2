"""``modules::pubsub::RedisAdapter``: fan-out across engines through Redis pub/sub channels.

Channel = ``channel_prefix`` + topic (prefix empty by default, like the reference), payload =
the JSON of ``data``. Every subscription of every engine receives each message.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import redis.asyncio as redis
from iii_engine import ConfigView

from .adapter import Deliver

RECONNECT_PAUSE_S = 1.0


class RedisAdapter:
    def __init__(self, url: str, prefix: str, log: Any) -> None:
        self.url = url
        self.prefix = prefix
        self.log = log
        self._client: redis.Redis | None = None
        self._pubsub: Any = None
        self._topics: set[str] = set()
        self._listener: asyncio.Task[None] | None = None
        self._control = f"{prefix}__iii_pubsub_control__"

    async def open(self, deliver: Deliver) -> None:
        self._client = redis.Redis.from_url(self.url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self._control)
        self._listener = asyncio.get_running_loop().create_task(self._listen(deliver))

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def _listen(self, deliver: Deliver) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (redis.ConnectionError, OSError) as exc:
                self.log.error("redis pubsub connection lost", error=repr(exc))
                await asyncio.sleep(RECONNECT_PAUSE_S)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()
            try:
                data = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                self.log.warning("non-JSON pubsub message dropped", channel=channel)
                continue
            deliver(channel.removeprefix(self.prefix), data)

    async def publish(self, topic: str, data: Any) -> None:
        assert self._client is not None
        await self._client.publish(self.prefix + topic, orjson.dumps(data))

    async def subscribe(self, topic: str) -> None:
        self._topics.add(topic)
        await self._pubsub.subscribe(self.prefix + topic)

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)
        await self._pubsub.unsubscribe(self.prefix + topic)


def create(engine: Any, config: ConfigView) -> RedisAdapter:
    url = config.str("redis_url", "redis://localhost:6379")
    prefix = config.str("channel_prefix", "")
    config.reject_unknown()
    return RedisAdapter(url, prefix, engine.logger("iii::modules::pubsub::redis"))
