"""The worker port: WebSocket workers on ``/`` and data channels on ``/ws/channels/{id}``."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .channels import Channel, ChannelClosed
from .worker import WorkerConnection

if TYPE_CHECKING:
    from .engine import Engine

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_PREFIX = "/ws/channels/"

# websockets logs every failed handshake (e.g. a bare TCP readiness probe) as an error.
_quiet = logging.getLogger("iii_engine.websockets")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class WorkerServer:
    """Accepts worker connections and channel sockets on one port."""

    def __init__(self, engine: Engine, host: str, port: int) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self._server: Server | None = None
        self._log = engine.logger("iii::engine")

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._route,
            max_size=MAX_MESSAGE_BYTES,
            max_queue=64,
            ping_interval=None,
            compression=None,
            logger=_quiet,
        )

    async def stop_accepting(self) -> None:
        """Stop listening; open connections keep working until :meth:`close`."""
        if self._server is not None:
            self._server.server.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- routing -----------------------------------------------------------------------------

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/":
            return None
        if url.path.startswith(CHANNEL_PREFIX):
            query = parse_qs(url.query)
            key, direction = query.get("key", [None])[0], query.get("dir", [None])[0]
            if not key or direction not in ("read", "write"):
                return connection.respond(
                    HTTPStatus.BAD_REQUEST, "Invalid query: key and dir=read|write are required\n"
                )
            if self.engine.channels.lookup(url.path[len(CHANNEL_PREFIX) :], key) is None:
                return connection.respond(HTTPStatus.NOT_FOUND, "Channel not found\n")
            return None
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")

    async def _handle(self, websocket: ServerConnection) -> None:
        url = urlsplit(websocket.request.path if websocket.request else "/")
        if url.path.startswith(CHANNEL_PREFIX):
            query = parse_qs(url.query)
            channel = self.engine.channels.lookup(url.path[len(CHANNEL_PREFIX) :], query["key"][0])
            if channel is None:
                await websocket.close(1008, "Channel not found")
                return
            await self._serve_channel(websocket, channel, query["dir"][0])
            return
        worker = WorkerConnection(self.engine, websocket)
        self.engine.worker_connected(worker)
        try:
            await worker.serve()
        except ConnectionClosed:
            pass
        finally:
            await self.engine.worker_disconnected(worker)

    # -- channels ----------------------------------------------------------------------------

    async def _serve_channel(self, websocket: ServerConnection, channel: Channel, direction: str) -> None:
        if not channel.attach(direction):
            await websocket.close()
            return
        try:
            if direction == "write":
                await self._pump_in(websocket, channel)
            else:
                await self._pump_out(websocket, channel)
        finally:
            if channel.detach(direction):
                self.engine.channels.discard(channel)

    async def _pump_in(self, websocket: ServerConnection, channel: Channel) -> None:
        try:
            async for frame in websocket:
                await channel.put(frame)
        except ChannelClosed:
            await websocket.close()
        except ConnectionClosed:
            pass

    async def _pump_out(self, websocket: ServerConnection, channel: Channel) -> None:
        closed = asyncio.ensure_future(websocket.wait_closed())
        try:
            while True:
                getter = asyncio.ensure_future(channel.get())
                await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                item = getter.result()
                if item is None:
                    await websocket.close()
                    break
                await websocket.send(item)
        except ConnectionClosed:
            pass
        finally:
            closed.cancel()
