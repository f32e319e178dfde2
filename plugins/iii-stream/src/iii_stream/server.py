"""The client WebSocket server (MODULES.md §3.2): auth, join/leave, sync, and fan-out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from iii_engine import Engine, InvocationError
from iii_state.codec import dumps
from websockets.http11 import Request

from .client import Client, text_frame
from .hub import Hub, Subscription
from .messages import stream_message

JOIN_TRIGGER = "stream:join"
LEAVE_TRIGGER = "stream:leave"

ReadItem = Callable[[str, str, str], Awaitable[Any]]
ReadGroup = Callable[[str, str], Awaitable[Any]]


def _request_details(request: Request, peer: str) -> dict[str, Any]:
    """The auth function's input: lower-case headers, raw query values per key, peer."""
    headers: dict[str, str] = {}
    for name, value in request.headers.raw_items():
        try:
            headers[name.lower()] = value.encode("latin-1", "surrogateescape").decode("utf-8")
        except UnicodeError:
            continue  # non-UTF-8 values are dropped
    path, _, query = request.path.partition("?")
    params: dict[str, list[str]] = {}
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        params.setdefault(name, []).append(value)
    return {"headers": headers, "path": path, "query_params": params, "addr": peer}


def _join_data(data: Any) -> tuple[str, str, str, str | None] | None:
    """``(subscriptionId, streamName, groupId, id)`` of a join/leave ``data``, or ``None``."""
    if not isinstance(data, dict):
        return None
    fields = data.get("subscriptionId"), data.get("streamName"), data.get("groupId")
    item = data.get("id")
    if not all(isinstance(value, str) for value in fields) or not (item is None or isinstance(item, str)):
        return None
    return fields[0], fields[1], fields[2], item  # type: ignore[return-value]


class StreamServer:
    """Accepts stream clients on ``host:port`` and serves their subscriptions."""

    def __init__(
        self,
        engine: Engine,
        host: str,
        port: int,
        auth_function: str | None,
        read_item: ReadItem,
        read_group: ReadGroup,
    ) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self.auth_function = auth_function
        self.read_item = read_item
        self.read_group = read_group
        self.hub = Hub()
        self.clients: set[Client] = set()
        self._server: asyncio.Server | None = None
        self._log = engine.logger("iii::modules::stream")

    async def listen(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Client(self), self.host, self.port, backlog=4096)
        self._log.info(f"Stream API listening on address: {self.host}:{self.port}")

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

    # -- session -----------------------------------------------------------------------------

    async def authenticate(self, request: Request, peer: str) -> Any:
        if not self.auth_function:
            return None
        try:
            result = await self.engine.invoke(
                self.auth_function, _request_details(request, peer), source="stream"
            )
        except InvocationError as exc:
            self._log.warning("stream auth function failed; connection has no context", error=exc.to_body())
            return None
        return result.get("context") if isinstance(result, dict) else None

    def opened(self, client: Client) -> None:
        self.clients.add(client)

    def closed(self, client: Client) -> None:
        self.clients.discard(client)
        remaining = list(client.subscriptions.values())
        client.subscriptions.clear()
        for subscription in remaining:
            self.hub.remove(subscription)
        if remaining and self.engine.triggers.of_type(LEAVE_TRIGGER):
            events = [subscription.describe(client.context) for subscription in remaining]
            self.engine.spawn(self._run_leave_triggers(events), name="stream-leave")

    def dropped(self, client: Client, reason: str) -> None:
        self._log.warning("stream client disconnected", peer=client.peer, reason=reason)

    async def handle(self, client: Client, message: dict[str, Any]) -> None:
        kind = message.get("type")
        fields = _join_data(message.get("data"))
        if kind not in ("join", "leave") or fields is None:
            self._log.debug("stream client message ignored", peer=client.peer, type=kind)
            return
        subscription = Subscription(client, *fields)
        try:
            if kind == "join":
                await self._join(client, subscription)
            else:
                await self._leave(client, subscription)
        except Exception:  # a bug must not end this client's message loop silently
            self._log.exception("stream client message failed", peer=client.peer, type=kind)

    # -- join / leave ------------------------------------------------------------------------

    async def _join(self, client: Client, subscription: Subscription) -> None:
        event = subscription.describe(client.context)
        refused = False
        for trigger in self.engine.triggers.of_type(JOIN_TRIGGER):  # all of them, in turn
            try:
                verdict = await self.engine.invoke(trigger.function_id, event, source="stream")
            except InvocationError as exc:
                self._log.warning("stream:join trigger failed; join allowed", error=exc.to_body())
                continue
            refused = refused or (isinstance(verdict, dict) and verdict.get("unauthorized") is True)
        if refused:
            client.send(self._frame(subscription, {"type": "unauthorized"}))
            return
        if not client.open:
            return
        previous = client.subscriptions.get(subscription.id)
        if previous is not None:
            self.hub.remove(previous)
        client.subscriptions[subscription.id] = subscription
        self.hub.add(subscription)
        try:
            if subscription.item is None:
                data = await self.read_group(subscription.stream, subscription.group)
            else:
                data = await self.read_item(subscription.stream, subscription.group, subscription.item)
        except InvocationError as exc:
            self._log.warning("stream sync failed", error=exc.to_body(), stream=subscription.stream)
            data = None if subscription.item is not None else []
        subscription.release(self._frame(subscription, {"type": "sync", "data": data}))

    async def _leave(self, client: Client, subscription: Subscription) -> None:
        await self._run_leave_triggers([subscription.describe(client.context)])
        current = client.subscriptions.pop(subscription.id, None)
        if current is not None:
            self.hub.remove(current)

    async def _run_leave_triggers(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            for trigger in self.engine.triggers.of_type(LEAVE_TRIGGER):
                try:
                    await self.engine.invoke(trigger.function_id, event, source="stream")
                except InvocationError as exc:
                    self._log.debug("stream:leave trigger failed", error=exc.to_body())

    @staticmethod
    def _frame(subscription: Subscription, event: dict[str, Any]) -> bytes:
        message = stream_message(subscription.stream, subscription.group, subscription.item, event)
        return text_frame(dumps(message))
