"""Rendering telemetry values the way the query functions show them."""

from __future__ import annotations

import json
from typing import Any


def display(value: Any) -> str:
    """A value as text: strings unchanged, booleans lower-case, sequences as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    try:
        return json.dumps(list(value) if isinstance(value, tuple) else value, default=str)
    except (TypeError, ValueError):
        return str(value)
