"""The worker port: WebSocket workers on ``/`` and data channels on ``/ws/channels/{id}``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, ProtocolError
from websockets.frames import DATA_OPCODES, CloseCode, Frame
from websockets.http11 import Request, Response
from websockets.protocol import Event, State
from websockets.streams import StreamReader

from .channels import Channel, ChannelClosed
from .frames import CONT, TEXT, parse_frame, read_head, text_frame, unmasked_payload
from .worker import WorkerConnection

if TYPE_CHECKING:
    from .engine import Engine

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_PREFIX = "/ws/channels/"
MAX_CONTROL_PAYLOAD = 125
CALM_TURNS = 8
"""Event-loop turns of one message each after which a worker socket sends messages at once."""
_AT_FRAME_BOUNDARY = StreamReader.at_eof.__code__
"""Where websockets' parser waits between frames (its parse loop checks for the end first)."""

# websockets logs every failed handshake (e.g. a bare TCP readiness probe) as an error.
_quiet = logging.getLogger("iii_engine.websockets")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class WorkerSocket(ServerConnection):
    """websockets' server connection with a direct path for worker messages.

    On the worker endpoint (``/``), each complete data message goes to the handler given to
    :meth:`attach` as soon as it has arrived, inside ``data_received``: no queue and no task
    wake-up per message (messages that arrive before :meth:`attach` wait in a backlog). Once
    attached, frames are split by :mod:`iii_engine.frames` rather than websockets' parser; control
    frames (ping, pong, close) and invalid ones still go through websockets' checks and state.
    :meth:`write` sends without the async send context, coalescing bursts.
    Channel sockets keep the standard ``recv``/``send`` API.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_message: Callable[[bytes, bool], None] | None = None
        self._backlog: list[tuple[bytes, bool]] | None = None
        self._parts: list[bytes] = []
        self._message_size = 0
        self._text = False
        self._turn_messages = 0
        """Messages written in the current turn of the event loop."""
        self._calm_turns = CALM_TURNS
        """Turns in a row that wrote one message; below ``CALM_TURNS`` messages are held."""
        self._direct = False
        """Frames are read here, not by websockets' parser (parked at a frame boundary)."""
        self._inbox = bytearray()
        self._awaited = 2
        """How many bytes the inbox must hold before the next frame can be read."""

    def attach(self, on_message: Callable[[bytes, bool], None]) -> None:
        """Deliver every message, as ``on_message(data, is_text)``, from now on."""
        self._on_message = on_message
        for data, text in self._backlog or ():
            on_message(data, text)
        self._backlog = None

    def write(self, data: bytes) -> None:
        """Send ``data`` as a text message; await :meth:`drain` when ``paused``.

        While messages come one per turn of the event loop (sequential calls), each leaves at
        once: lowest latency. Once a turn has written several, the messages of each turn leave
        together in one socket write right after it, until ``CALM_TURNS`` turns in a row wrote
        one each: under load a burst of invocations to one worker costs one system call, not one
        each.
        """
        protocol = self.protocol
        if protocol.state is not State.OPEN:
            raise ConnectionClosed(protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)
        protocol.writes.append(text_frame(data))  # what protocol.send_text() queues, minus its checks
        self._turn_messages += 1
        if self._turn_messages == 1:
            self.loop.call_soon(self._end_turn)
            if self._calm_turns >= CALM_TURNS:
                self.send_data()

    def _end_turn(self) -> None:
        self._calm_turns = self._calm_turns + 1 if self._turn_messages == 1 else 0
        self._turn_messages = 0
        if self.protocol.state is not State.OPEN:  # closing: websockets writes what is left itself
            return
        chunks = self.protocol.data_to_send()
        if chunks:
            try:
                self.transport.write(b"".join(chunks))
            except Exception as exc:
                self.set_connection_exc(exc)
                self.transport.abort()

    # -- receiving -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self._direct:
            if self._on_message is None or not self._parser_parked():
                super().data_received(data)
                return
            self._direct = True
        inbox = self._inbox
        inbox += data
        if len(inbox) < self._awaited:
            return
        offset = 0
        while self._direct:
            head = read_head(inbox, offset)
            if head is None:
                self._awaited = len(inbox) - offset + 1
                break
            limit = MAX_MESSAGE_BYTES - self._message_size if head.plain else MAX_CONTROL_PAYLOAD
            if head.end - head.payload_at > limit:
                self._refuse(head.plain, bytes(inbox[offset:]))
            elif head.end > len(inbox):
                self._awaited = head.end - offset
                break
            elif head.plain:
                self._data_frame(head.fin, head.opcode, unmasked_payload(inbox, head))
            else:
                self._other_frame(bytes(inbox[offset : head.end]))
            offset = head.end
        else:  # closing: websockets reads (and discards) the rest
            rest = bytes(inbox[offset:])
            inbox.clear()
            super().data_received(rest)
            return
        del inbox[:offset]

    def _parser_parked(self) -> bool:
        """Whether websockets' parser waits at a frame boundary with nothing buffered."""
        if self.protocol.state is not State.OPEN or self.protocol.reader.buffer:
            return False
        generator = self.protocol.parser
        while generator.gi_yieldfrom is not None:
            generator = generator.gi_yieldfrom
        return generator.gi_code is _AT_FRAME_BOUNDARY

    def _data_frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        """One data frame, from either reader: whole messages go on, fragments are joined."""
        if opcode == CONT:
            if not self._parts:
                self._fail(CloseCode.PROTOCOL_ERROR, "unexpected continuation frame")
                return
        elif self._parts:
            self._fail(CloseCode.PROTOCOL_ERROR, "expected a continuation frame")
            return
        elif fin:
            self._message(payload, opcode == TEXT)
            return
        else:
            self._text = opcode == TEXT
        self._parts.append(payload)
        self._message_size += len(payload)
        if fin:
            data = b"".join(self._parts)
            self._parts.clear()
            self._message_size = 0
            self._message(data, self._text)

    def _other_frame(self, raw: bytes) -> None:
        """A control frame, or one the direct path does not read: websockets checks and handles
        it (answers pings, runs the closing handshake)."""
        try:
            frame = parse_frame(raw, self.protocol.extensions)
        except ProtocolError as exc:
            self._fail(CloseCode.PROTOCOL_ERROR, str(exc))
            return
        try:
            self.protocol.recv_frame(frame)
        except ProtocolError as exc:
            self._fail(CloseCode.PROTOCOL_ERROR, str(exc))
            return
        self._settle()

    def _refuse(self, plain: bool, start: bytes) -> None:
        """Fail the connection over a frame too large to wait for (``start``: its first bytes)."""
        if plain:
            self._fail(CloseCode.MESSAGE_TOO_BIG, f"message over {MAX_MESSAGE_BYTES} bytes")
            return
        try:
            parse_frame(start, self.protocol.extensions)
        except ProtocolError as exc:
            self._fail(CloseCode.PROTOCOL_ERROR, str(exc))
            return
        except ValueError:
            pass
        self._fail(CloseCode.PROTOCOL_ERROR, "invalid frame")

    def _fail(self, code: CloseCode, reason: str) -> None:
        self.protocol.fail(code, reason)
        self._settle()

    def _settle(self) -> None:
        """Let websockets act on what the protocol queued (replies, events, closing state), as
        after its own parsing: feeding no bytes runs exactly that part of ``data_received``."""
        super().data_received(b"")
        if self.protocol.state is not State.OPEN:
            self._direct = False

    def _message(self, data: bytes, text: bool) -> None:
        if self._on_message is not None:
            self._on_message(data, text)
        elif self._backlog is not None:
            self._backlog.append((data, text))

    def process_event(self, event: Event) -> None:
        """Events from websockets' parser: data messages before the direct path takes over."""
        if self.request is None or not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)
            return
        if self._on_message is None and self._backlog is None:
            if urlsplit(self.request.path).path != "/":  # a channel socket
                super().process_event(event)
                return
            self._backlog = []
        self._data_frame(event.fin, event.opcode.value, bytes(event.data))


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
            create_connection=WorkerSocket,
            compression=None,
            logger=_quiet,
        )

    async def stop_accepting(self) -> None:
        """Stop listening; open connections keep working until :meth:`close`."""
        if self._server is not None:
            self._server.server.close()

    async def close(self) -> None:
        """Close every connection with 1012 (service restart), then the server.

        Not 1001: iii-sdk 0.9.0 Python treats a clean close (1000/1001) as final and never
        reconnects, so its workers would stay dead after an engine restart.
        """
        if self._server is not None:
            self._server.close(close_connections=False)
            closing = [c.close(1012, "engine restarting") for c in self._server.connections]
            await asyncio.gather(*closing, return_exceptions=True)
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
        assert isinstance(websocket, WorkerSocket)
        worker = WorkerConnection(self.engine, websocket)
        self.engine.worker_connected(worker)
        try:
            await worker.serve()
        except ConnectionClosed:
            pass
        except Exception:
            # websockets would close with 1011 and log to its (silenced) logger: say why here.
            self._log.exception("worker connection failed", worker_id=worker.id)
            raise
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
