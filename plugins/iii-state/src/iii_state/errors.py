"""Storage failures as the reference's error bodies."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from iii_engine import InvocationError


async def guarded(code: str, prefix: str, operation: Awaitable[Any]) -> Any:
    """Await a storage call; storage failures become ``{code, "<prefix>: <reason>"}``."""
    try:
        return await operation
    except InvocationError:
        raise
    except Exception as exc:
        raise InvocationError(code, f"{prefix}: {exc}") from exc
