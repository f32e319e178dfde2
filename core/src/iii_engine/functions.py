"""The function registry: one table for engine functions of modules and remote functions of workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .invocation import Handler, Starter

FunctionHandler = Handler


@dataclass(slots=True)
class Function:
    """A callable function id. ``worker_id`` is the owning connection (``None`` for modules)."""

    id: str
    handler: FunctionHandler
    description: str | None = None
    request_format: Any = None
    response_format: Any = None
    metadata: Any = None
    worker_id: str | None = None
    start: Starter | None = None
    """Begins a call without a task of its own (worker functions); ``handler`` does the same
    call as a coroutine."""

    def describe(self) -> dict[str, Any]:
        """The item shape of ``engine::functions::list``."""
        return {
            "function_id": self.id,
            "description": self.description,
            "request_format": self.request_format,
            "response_format": self.response_format,
            "metadata": self.metadata,
        }


class FunctionRegistry:
    """Function id → :class:`Function`. Last registration wins."""

    def __init__(self) -> None:
        self._functions: dict[str, Function] = {}
        self.version = 0
        """Bumped on every change, so watchers can notice a changed function set cheaply."""

    def get(self, function_id: str) -> Function | None:
        return self._functions.get(function_id)

    def __contains__(self, function_id: str) -> bool:
        return function_id in self._functions

    def add(self, function: Function) -> Function | None:
        previous = self._functions.get(function.id)
        self._functions[function.id] = function
        self.version += 1
        return previous

    def remove(self, function_id: str, *, worker_id: str | None = None) -> Function | None:
        """Remove ``function_id``; with ``worker_id``, only if that worker still owns it."""
        current = self._functions.get(function_id)
        if current is None or (worker_id is not None and current.worker_id != worker_id):
            return None
        del self._functions[function_id]
        self.version += 1
        return current

    def all(self) -> list[Function]:
        return list(self._functions.values())
