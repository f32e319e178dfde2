"""Random identifiers: UUID v4 strings for workers, invocations and channels."""

from __future__ import annotations

import os

RANDOM_POOL_BYTES = 4096


class RandomIds:
    """UUID v4 strings cut from a buffered ``os.urandom`` pool: one syscall per 256 ids instead of
    one per id (every invocation and every HTTP request's channels need fresh ids)."""

    def __init__(self) -> None:
        self._pool = b""
        self._offset = 0

    def __call__(self) -> str:
        if self._offset + 16 > len(self._pool):
            self._pool = os.urandom(RANDOM_POOL_BYTES)
            self._offset = 0
        raw = bytearray(self._pool[self._offset : self._offset + 16])
        self._offset += 16
        raw[6] = raw[6] & 0x0F | 0x40  # version 4
        raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
        digits = raw.hex()
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


random_uuid = RandomIds()
