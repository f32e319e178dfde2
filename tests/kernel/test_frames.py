"""The worker socket's own frame reader: against websockets' serializer, and on a raw TCP socket
whose bytes arrive split anywhere, with control frames inside fragmented messages."""

from __future__ import annotations

import asyncio
import base64
import os
import struct

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iii_engine.frames import parse_frame, read_head, text_frame, unmasked_payload
from websockets.frames import Frame, Opcode

from tests.conftest import EngineProcess

SIZES = st.one_of(
    st.integers(0, 300), st.sampled_from([125, 126, 127, 65535, 65536, 65537]), st.integers(0, 70_000)
)


@settings(max_examples=150, deadline=None)
@given(
    size=SIZES,
    opcode=st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.CONT]),
    fin=st.booleans(),
    cut=st.floats(0, 1),
)
def test_read_head_agrees_with_websockets(size: int, opcode: Opcode, fin: bool, cut: float) -> None:
    payload = os.urandom(size)
    raw = Frame(opcode, payload, fin).serialize(mask=True, extensions=[])
    framed = b"junk" + raw
    head = read_head(framed, 4)
    assert head is not None
    assert (head.fin, head.opcode, head.plain, head.end) == (fin, opcode.value, True, len(framed))
    assert unmasked_payload(framed, head) == payload
    prefix = framed[: 4 + int(len(raw) * cut)]
    partial = read_head(prefix, 4)
    assert partial is None or partial.end > len(prefix) or len(prefix) == len(framed)


def test_control_unmasked_and_reserved_frames_are_not_plain() -> None:
    ping = Frame(Opcode.PING, b"hi").serialize(mask=True, extensions=[])
    unmasked = Frame(Opcode.TEXT, b"x").serialize(mask=False, extensions=[])
    reserved = bytearray(Frame(Opcode.TEXT, b"x").serialize(mask=True, extensions=[]))
    reserved[0] |= 0x40
    for raw in (ping, unmasked, bytes(reserved)):
        head = read_head(raw, 0)
        assert head is not None and not head.plain and head.end == len(raw)
    assert parse_frame(ping).data == b"hi"


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70_000])
def test_text_frame_matches_websockets(size: int) -> None:
    payload = b"a" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


# -- on the wire ---------------------------------------------------------------------------------


def client_frame(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, payload, fin).serialize(mask=True, extensions=[])


class RawSocket:
    """A WebSocket client written byte by byte: the handshake and the frames are ours."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> RawSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101")
        socket = cls(reader, writer)
        assert orjson.loads((await socket.frame())[1])["type"] == "workerregistered"
        return socket

    async def send(self, data: bytes, *, step: int = 0) -> None:
        """Write ``data`` whole, or ``step`` bytes at a time with a pause between writes."""
        if not step:
            self.writer.write(data)
        for at in range(0, len(data), step or len(data) or 1):
            if step:
                self.writer.write(data[at : at + step])
                await self.writer.drain()
                await asyncio.sleep(0)
        await self.writer.drain()

    async def frame(self) -> tuple[int, bytes]:
        """The next server frame as ``(opcode, payload)`` (servers do not mask)."""
        first, second = await asyncio.wait_for(self.reader.readexactly(2), 10)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await asyncio.wait_for(self.reader.readexactly(length), 10)

    async def close_code(self) -> int:
        opcode, payload = await self.frame()
        while opcode != Opcode.CLOSE.value:
            opcode, payload = await self.frame()
        return struct.unpack("!H", payload[:2])[0]

    def close(self) -> None:
        self.writer.close()


def list_call(invocation_id: str) -> bytes:
    message = {
        "type": "invokefunction",
        "invocation_id": invocation_id,
        "function_id": "engine::workers::list",
        "data": {},
    }
    return orjson.dumps(message)


async def test_fragments_and_control_frames_split_at_every_byte(kernel_engine: EngineProcess) -> None:
    socket = await RawSocket.open(kernel_engine.port)
    try:
        message = list_call("split")
        stream = (
            client_frame(Opcode.TEXT, message[:5], fin=False)
            + client_frame(Opcode.PING, b"ping-inside")
            + client_frame(Opcode.CONT, message[5:20], fin=False)
            + client_frame(Opcode.CONT, message[20:])
            + client_frame(Opcode.TEXT, list_call("whole"))
        )
        await socket.send(stream, step=1)
        assert await socket.frame() == (Opcode.PONG.value, b"ping-inside")
        answers = [orjson.loads((await socket.frame())[1]) for _ in range(2)]
        assert [a["invocation_id"] for a in answers] == ["split", "whole"]
        assert all(len(a["result"]["workers"]) == 1 for a in answers)
        await socket.send(client_frame(Opcode.CLOSE, struct.pack("!H", 1000) + b"bye"))
        assert await socket.close_code() == 1000
    finally:
        socket.close()


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (client_frame(Opcode.CONT, b"orphan"), 1002),
        (client_frame(Opcode.TEXT, b"{", fin=False) + client_frame(Opcode.TEXT, b"}"), 1002),
        (Frame(Opcode.TEXT, b"{}").serialize(mask=False, extensions=[]), 1002),
        (bytes((0x81, 0xFF)) + (1 << 40).to_bytes(8, "big") + b"mask", 1009),
        (bytes((0x89, 0xFE)) + (126).to_bytes(2, "big") + bytes(4) + b"p" * 126, 1002),
    ],
    ids=["orphan-continuation", "interleaved-message", "unmasked", "declared-oversize", "long-ping"],
)
async def test_invalid_frames_close_that_socket_only(
    kernel_engine: EngineProcess, stream: bytes, code: int
) -> None:
    bystander = await RawSocket.open(kernel_engine.port)
    offender = await RawSocket.open(kernel_engine.port)
    try:
        await offender.send(client_frame(Opcode.TEXT, list_call("first")))
        assert orjson.loads((await offender.frame())[1])["invocation_id"] == "first"
        await offender.send(stream)
        assert await offender.close_code() == code
        await bystander.send(client_frame(Opcode.TEXT, list_call("still")))
        assert orjson.loads((await bystander.frame())[1])["invocation_id"] == "still"
    finally:
        offender.close()
        bystander.close()
