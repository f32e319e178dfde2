"""A lean stream client for benchmarks: one asyncio protocol per connection, no task, so one
client process can hold thousands of subscribers without its own overhead dominating."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

STREAM_MODULE = (
    "  - class: modules::stream::StreamModule\n    config:\n"
    "      port: {STREAM_PORT}\n      host: 127.0.0.1\n"
)
"""The engine config of the stream benchmarks (in-memory adapter)."""


class LeanClient(asyncio.Protocol):
    """Connects, joins one group, and hands every text frame after the sync to ``on_message``."""

    def __init__(self, url: str, join: dict[str, str], on_message: Callable[[bytes], None]) -> None:
        self.ws = ClientProtocol(parse_uri(url), max_size=None)
        self.join = join
        self.on_message = on_message
        self.synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                self.ws.send_text(json.dumps({"type": "join", "data": self.join}).encode())
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                if self.synced.done():
                    self.on_message(event.data)
                else:
                    self.synced.set_result(None)
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_clients(
    port: int, count: int, group: str, on_message: Callable[[bytes], None], groups: int = 1, batch: int = 200
) -> list[LeanClient]:
    """``count`` subscribers of stream ``bench``, opened ``batch`` at a time: all in ``group``,
    or spread over ``groups`` groups named ``<group>-<n>``."""
    loop = asyncio.get_running_loop()
    url = f"ws://127.0.0.1:{port}/"
    clients: list[LeanClient] = []
    for start in range(0, count, batch):
        opened = []
        for index in range(start, min(count, start + batch)):
            group_id = group if groups == 1 else f"{group}-{index % groups}"
            join = {"subscriptionId": f"s{index}", "streamName": "bench", "groupId": group_id}
            _, client = await loop.create_connection(
                lambda j=join: LeanClient(url, j, on_message), "127.0.0.1", port
            )
            opened.append(client)
        await asyncio.gather(*(client.synced for client in opened))
        clients += opened
    return clients
