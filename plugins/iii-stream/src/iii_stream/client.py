"""One stream client: a WebSocket over a bare asyncio protocol (websockets' sans-I/O core).

An idle client costs a transport and two small objects, no task: messages from the client
are handled by a task that exists only while there is work, one message at a time in order.
Sends never wait: a frame goes to the transport's buffer, and a client whose unread backlog
exceeds ``MAX_BACKLOG_BYTES`` is disconnected so it cannot hold memory or slow anyone down.
Server frames are never masked and no extension is negotiated, so one serialized frame
(:func:`text_frame`) is written as is to every subscriber of a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from iii_state.codec import loads
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

if TYPE_CHECKING:
    from .hub import Subscription

MAX_FRAME_BYTES = 1024 * 1024
MAX_BACKLOG_BYTES = 4 * 1024 * 1024
MAX_PENDING_MESSAGES = 256

_quiet = logging.getLogger("iii_stream.websockets")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def text_frame(payload: bytes) -> bytes:
    """A complete unmasked WebSocket text frame carrying ``payload``."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class Session(Protocol):
    """What a client needs from the server that accepted it."""

    async def authenticate(self, request: Request, peer: str) -> Any:
        """The connection's context (``None`` without one)."""

    def opened(self, client: Client) -> None: ...

    def closed(self, client: Client) -> None: ...

    def dropped(self, client: Client, reason: str) -> None: ...

    async def handle(self, client: Client, message: dict[str, Any]) -> None: ...


class Client(asyncio.Protocol):
    """A stream client connection (``asyncio.Protocol`` + ``websockets`` ServerProtocol)."""

    __slots__ = (
        "_held",
        "_inbox",
        "_worker",
        "context",
        "open",
        "peer",
        "session",
        "subscriptions",
        "transport",
        "ws",
    )

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ws = ServerProtocol(max_size=MAX_FRAME_BYTES, logger=_quiet)
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.context: Any = None
        self.open = False
        self.subscriptions: dict[str, Subscription] = {}
        self._held: list[Frame | bytes] | None = None
        self._inbox: deque[dict[str, Any]] | None = None
        self._worker: asyncio.Task[None] | None = None

    # -- transport events --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")

    def data_received(self, data: bytes) -> None:
        if self._held is not None:  # still authenticating: keep the data for later
            if len(self._held) >= MAX_PENDING_MESSAGES:
                self.drop("too much data before the handshake completed")
                return
            self._held.append(data)
            return
        self.ws.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        was_open, self.open = self.open, False
        if self._worker is not None:
            self._worker.cancel()
        if was_open:
            self.session.closed(self)

    # -- incoming ----------------------------------------------------------------------------

    def _process(self) -> None:
        for event in self.ws.events_received():
            if self._held is not None:  # frames that came with the handshake request
                self._held.append(event)  # type: ignore[arg-type]
            elif isinstance(event, Request):
                self._on_request(event)
            elif isinstance(event, Frame):
                self._on_frame(event)
        self._flush()

    def _on_frame(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._on_message(frame.data)

    def _on_request(self, request: Request) -> None:
        if urlsplit(request.path).path != "/":
            self.ws.send_response(self.ws.reject(404, "Not Found\n"))
            return
        self._held = []
        self._worker = asyncio.get_running_loop().create_task(self._accept(request))

    async def _accept(self, request: Request) -> None:
        try:
            self.context = await self.session.authenticate(request, self.peer)
        finally:
            self._worker = None
        if self.transport is None or self.transport.is_closing():
            return
        response = self.ws.accept(request)
        self.ws.send_response(response)
        held, self._held = self._held or [], None
        if response.status_code == 101:
            self.open = True
            self.session.opened(self)
        for early in held:
            if isinstance(early, Frame):
                self._on_frame(early)
            else:
                self.ws.receive_data(early)
        self._process()

    def _on_message(self, data: bytes) -> None:
        try:
            message = loads(data)
        except ValueError:
            return  # invalid JSON is ignored, as in the reference
        if not isinstance(message, dict):
            return
        if self._inbox is None:
            self._inbox = deque()
        if len(self._inbox) >= MAX_PENDING_MESSAGES:
            self.drop("too many unprocessed messages")
            return
        self._inbox.append(message)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._inbox and self.open:
                await self.session.handle(self, self._inbox.popleft())
        finally:
            self._worker = None
            self._inbox = None

    # -- outgoing ----------------------------------------------------------------------------

    def send(self, frame: bytes) -> bool:
        """Queue a frame made by :func:`text_frame`; drop the client when its unread backlog
        is too large. ``False`` when the frame was not queued."""
        transport = self.transport
        if not self.open or transport is None or transport.is_closing() or self.ws.state is not OPEN:
            return False
        if transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
            self.drop("client does not read its messages")
            return False
        transport.write(frame)
        return True

    def drop(self, reason: str) -> None:
        """Disconnect at once, discarding anything not yet sent."""
        self.session.dropped(self, reason)
        if self.transport is not None:
            self.transport.abort()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.ws.data_to_send():
            if data:
                transport.write(data)
            else:
                transport.close()
                return
