"""HTTP header checks shared by the request and response paths."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"})
"""Framing headers the server manages itself; a function cannot set them."""


def is_valid_name(name: str) -> bool:
    return bool(_TOKEN.match(name))


def is_valid_value(value: str) -> bool:
    return bool(_VALUE.match(value))


def settable_headers(headers: Any) -> dict[str, str]:
    """The valid, settable ``name → value`` pairs of a function-supplied header set.

    Accepts an object of strings or a list of ``"Name: value"`` strings; names are lower-cased,
    the last value of a name wins, invalid or non-string entries are skipped.
    """
    pairs: list[tuple[Any, Any]]
    if isinstance(headers, dict):
        pairs = list(headers.items())
    elif isinstance(headers, list):
        pairs = [
            tuple(part.strip() for part in item.split(":", 1))
            for item in headers
            if isinstance(item, str) and ":" in item
        ]
    else:
        return {}
    accepted: dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        lowered = name.lower()
        if is_valid_name(name) and is_valid_value(value) and lowered not in HOP_BY_HOP:
            accepted[lowered] = value
    return accepted
