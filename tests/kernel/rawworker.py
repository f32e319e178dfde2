"""A worker that speaks the protocol by hand, for checking exact frames."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

RECEIVE_TIMEOUT_S = 5.0


class RawWorker:
    """A worker speaking the protocol by hand, for checking exact frames."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.worker_id: str = ""
        self.inbox: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, **options: Any) -> RawWorker:
        worker = cls(await connect(url, ping_interval=None, **options))
        registered = await worker.receive("workerregistered")
        worker.worker_id = registered["worker_id"]
        return worker

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.websocket.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def receive(
        self, kind: str | None = None, wait: float = RECEIVE_TIMEOUT_S, **match: Any
    ) -> dict[str, Any]:
        """The next message of type ``kind`` (and matching ``match`` fields) within ``wait`` seconds;
        other messages are kept in ``inbox`` for later calls."""
        for index, message in enumerate(self.inbox):
            if _matches(message, kind, match):
                return self.inbox.pop(index)
        async with asyncio.timeout(wait):
            while True:
                message = json.loads(await self.websocket.recv())
                if _matches(message, kind, match):
                    return message
                self.inbox.append(message)

    async def nothing_received(self, kind: str, wait: float = 0.5, **match: Any) -> bool:
        try:
            await self.receive(kind, wait, **match)
        except TimeoutError:
            return True
        return False

    async def register_function(self, function_id: str, **fields: Any) -> None:
        await self.send({"type": "registerfunction", "id": function_id, **fields})

    async def register_trigger(
        self, trigger_id: str, trigger_type: str, function_id: str, **fields: Any
    ) -> None:
        await self.send(
            {
                "type": "registertrigger",
                "id": trigger_id,
                "trigger_type": trigger_type,
                "function_id": function_id,
                **fields,
            }
        )

    async def call(self, function_id: str, data: Any = None, **fields: Any) -> dict[str, Any]:
        """Invoke and return the ``invocationresult``."""
        invocation_id = str(uuid.uuid4())
        await self.send(
            {
                "type": "invokefunction",
                "invocation_id": invocation_id,
                "function_id": function_id,
                "data": data,
                **fields,
            }
        )
        return await self.receive("invocationresult", invocation_id=invocation_id)

    async def serve_one(
        self, function_id: str, answer: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Answer the next invocation of ``function_id`` with ``answer(message)`` (result/error fields)."""
        message = await self.receive("invokefunction", function_id=function_id)
        await self.send(
            {
                "type": "invocationresult",
                "invocation_id": message["invocation_id"],
                "function_id": function_id,
                **answer(message),
            }
        )
        return message

    async def close(self) -> None:
        await self.websocket.close()


def _matches(message: Any, kind: str | None, match: dict[str, Any]) -> bool:
    if not isinstance(message, dict) or (kind is not None and message.get("type") != kind):
        return False
    return all(message.get(key) == value for key, value in match.items())
