"""Random identifiers: UUID v4 strings for workers, invocations and channels."""

from __future__ import annotations

import os

RANDOM_POOL_BYTES = 4096
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""A random hex digit → the RFC 4122 variant digit carrying its two low bits."""


class RandomIds:
    """UUID v4 strings cut from a buffered ``os.urandom`` pool, kept as hex: one system call per
    256 ids instead of one per id (every invocation and every HTTP request's channels need
    fresh ids), and no per-id byte handling."""

    __slots__ = ("_digits", "_offset")

    def __init__(self) -> None:
        self._digits = ""
        self._offset = 0

    def __call__(self) -> str:
        at = self._offset
        if at >= len(self._digits):
            self._digits = os.urandom(RANDOM_POOL_BYTES).hex()
            at = 0
        self._offset = at + 32
        d = self._digits[at : at + 32]
        return f"{d[:8]}-{d[8:12]}-4{d[13:16]}-{_VARIANT[d[16]]}{d[17:20]}-{d[20:]}"


random_uuid = RandomIds()
