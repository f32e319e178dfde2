"""The worker's WebSocket: websockets' client connection with a direct path for messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import DATA_OPCODES, Frame, Opcode
from websockets.protocol import Event, State

MessageHandler = Callable[[bytes], None]


class EngineSocket(ClientConnection):
    """A client connection that hands each complete data message to a callback.

    The callback given to :meth:`attach` runs inside ``data_received``, as soon as the parser
    completes a message: no per-message queue and no wake-up of a reader task (messages that
    arrive before :meth:`attach` wait in a backlog). :meth:`send_text` writes straight to the
    transport instead of going through the async send context. Control frames (ping, pong,
    close) keep websockets' own handling.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_message: MessageHandler | None = None
        self._backlog: list[bytes] = []
        self._parts: list[bytes] = []

    def attach(self, on_message: MessageHandler) -> None:
        """Deliver every data message, as ``on_message(data)``, from now on (backlog first)."""
        self._on_message = on_message
        backlog, self._backlog = self._backlog, []
        for data in backlog:
            on_message(data)

    async def send_text(self, data: bytes) -> None:
        """Send ``data`` (UTF-8 JSON) as one text message; raises ``ConnectionClosed`` once closing."""
        if self.protocol.state is not State.OPEN:
            closing = self.protocol
            raise ConnectionClosed(closing.close_rcvd, closing.close_sent, closing.close_rcvd_then_sent)
        self.protocol.send_text(data)
        self.send_data()
        if self.paused:
            try:
                await self.drain()
            except OSError:  # the connection was lost while writes were paused
                raise self.close_exc from None

    def process_event(self, event: Event) -> None:
        if self.response is None or not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)
            return
        if event.opcode is not Opcode.CONT:
            self._parts.clear()
        if not event.fin:
            self._parts.append(event.data)
            return
        data = b"".join((*self._parts, event.data)) if self._parts else bytes(event.data)
        self._parts.clear()
        if self._on_message is None:
            self._backlog.append(data)
        else:
            self._on_message(data)
