"""WebSocket frames (RFC 6455 §5.2) as a worker's stream carries them, read and written without
websockets' generator-based parser: a worker socket moves one or two frames per invocation, and
that parser was a measurable share of the engine's time per HTTP request."""

from __future__ import annotations

from typing import NamedTuple

from websockets.frames import Frame
from websockets.streams import StreamReader

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension
    from websockets.utils import apply_mask

CONT, TEXT, BINARY = 0x0, 0x1, 0x2
DATA_OPCODES = frozenset({CONT, TEXT, BINARY})
_FIN_TEXT = 0x81
_SHORT_LIMIT = 126
_MEDIUM_LIMIT = 1 << 16


class FrameHead(NamedTuple):
    """Where one frame lies in a buffer, read from its header."""

    fin: bool
    opcode: int
    plain: bool
    """A masked data frame with no reserved bits: what :func:`unmasked_payload` can read."""
    payload_at: int
    end: int
    """Offset just past the frame (it may lie beyond the bytes received so far)."""


def read_head(buffer: bytes | bytearray, offset: int) -> FrameHead | None:
    """The header of the frame starting at ``offset``, or ``None`` while it is incomplete."""
    available = len(buffer) - offset
    if available < 2:
        return None
    first, second = buffer[offset], buffer[offset + 1]
    length = second & 0x7F
    at = offset + 2
    if length == 126:
        if available < 4:
            return None
        length = int.from_bytes(buffer[at : at + 2], "big")
        at += 2
    elif length == 127:
        if available < 10:
            return None
        length = int.from_bytes(buffer[at : at + 8], "big")
        at += 8
    masked = bool(second & 0x80)
    if masked:
        at += 4
    opcode = first & 0x0F
    plain = masked and not first & 0x70 and opcode in DATA_OPCODES
    return FrameHead(bool(first & 0x80), opcode, plain, at, at + length)


def unmasked_payload(buffer: bytes | bytearray, head: FrameHead) -> bytes:
    """The payload of a complete plain frame, unmasked."""
    mask = bytes(buffer[head.payload_at - 4 : head.payload_at])
    return apply_mask(buffer[head.payload_at : head.end], mask)


def parse_frame(data: bytes, extensions: list | None = None) -> Frame:
    """One complete client frame through websockets' own parser and checks (used for control
    frames and anything unusual). Raises websockets' ProtocolError for an invalid frame."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=True, max_size=None, extensions=extensions)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise ValueError("incomplete frame")


def text_frame(payload: bytes) -> bytes:
    """A whole, unmasked text frame (what a server sends) carrying ``payload``."""
    size = len(payload)
    if size < _SHORT_LIMIT:
        return bytes((_FIN_TEXT, size)) + payload
    if size < _MEDIUM_LIMIT:
        return bytes((_FIN_TEXT, 126)) + size.to_bytes(2, "big") + payload
    return bytes((_FIN_TEXT, 127)) + size.to_bytes(8, "big") + payload
