"""``modules::stream::adapters::Bridge``: stream items kept by a remote engine; change messages
travel through the remote engine's pub/sub topic ``stream.events``, so every engine bridged to
the same remote delivers them to its own stream clients."""

from __future__ import annotations

import uuid
from typing import Any

from iii_engine import ConfigView, Engine
from iii_state import UpdateOp
from iii_stream.adapter import StreamAdapter

from .remote import DEFAULT_URL, RemoteEngine
from .state_adapter import missing_if_none, ops_to_wire

EVENTS_TOPIC = "stream.events"


class BridgeStreamAdapter(StreamAdapter):
    """Storage calls are the remote's ``stream::*``; :meth:`publish` is a remote ``publish``."""

    def __init__(self, remote: RemoteEngine) -> None:
        self.remote = remote

    async def start(self) -> None:
        receiver = f"iii_bridge::stream_events::{uuid.uuid4()}"
        self.remote.worker.register_function(receiver, self._receive)
        self.remote.worker.register_trigger("subscribe", receiver, {"topic": EVENTS_TOPIC})
        await self.remote.start()

    async def close(self) -> None:
        await self.remote.stop()

    async def _receive(self, message: Any) -> None:
        if self.listener is not None and isinstance(message, dict):
            self.listener(message)

    def publish(self, message: dict[str, Any]) -> None:
        if self.remote.worker.connected:
            self.remote.worker.post_void("publish", {"topic": EVENTS_TOPIC, "data": message})

    def _item(self, stream: str, group: str, item: str) -> dict[str, str]:
        return {"stream_name": stream, "group_id": group, "item_id": item}

    async def get(self, stream: str, group: str, item: str) -> Any:
        return missing_if_none(await self.remote.call("stream::get", self._item(stream, group, item)))

    async def set(self, stream: str, group: str, item: str, value: Any) -> Any:
        result = await self.remote.call("stream::set", {**self._item(stream, group, item), "data": value})
        return missing_if_none(result.get("old_value") if isinstance(result, dict) else None)

    async def delete(self, stream: str, group: str, item: str) -> Any:
        result = await self.remote.call("stream::delete", self._item(stream, group, item))
        return missing_if_none(result.get("old_value") if isinstance(result, dict) else None)

    async def update(self, stream: str, group: str, item: str, ops: list[UpdateOp]) -> tuple[Any, Any]:
        result = await self.remote.call(
            "stream::update", {**self._item(stream, group, item), "ops": ops_to_wire(ops)}
        )
        result = result if isinstance(result, dict) else {}
        return missing_if_none(result.get("old_value")), result.get("new_value")

    async def list(self, stream: str, group: str) -> list[Any]:
        values = await self.remote.call("stream::list", {"stream_name": stream, "group_id": group})
        return values if isinstance(values, list) else []

    async def list_groups(self, stream: str) -> list[str]:
        groups = await self.remote.call("stream::list_groups", {"stream_name": stream})
        return [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []

    async def list_all(self) -> dict[str, list[str]]:
        """Like the reference's bridge adapter: the remote's stream listing is not proxied."""
        return {}


def create(engine: Engine, config: ConfigView) -> StreamAdapter:
    """``bridge_url`` (default ``ws://localhost:49134``): the remote engine's worker URL."""
    url = config.str("bridge_url", DEFAULT_URL)
    return BridgeStreamAdapter(RemoteEngine(url, name="iii-bridge-stream"))
