"""Trigger types (each with one owner) and the triggers bound to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class Trigger:
    """A binding of an event source (``trigger_type`` + ``config``) to ``function_id``.

    ``worker_id`` is the connection that registered it (``None`` for engine-internal triggers).
    """

    id: str
    trigger_type: str
    function_id: str
    config: Any = field(default_factory=dict)
    worker_id: str | None = None

    def describe(self) -> dict[str, Any]:
        """The item shape of ``engine::triggers::list``."""
        return {
            "id": self.id,
            "trigger_type": self.trigger_type,
            "function_id": self.function_id,
            "config": self.config,
        }

    @property
    def condition_function_id(self) -> str | None:
        """The ``condition_function_id`` of the config, if any."""
        if isinstance(self.config, dict):
            value = self.config.get("condition_function_id")
            return value if isinstance(value, str) and value else None
        return None


class TriggerOwner(Protocol):
    """Whoever provides a trigger type: a module, or a worker that registered the type."""

    async def register_trigger(self, trigger: Trigger) -> None:
        """Start delivering events for ``trigger``; raise TriggerError to refuse it."""

    async def unregister_trigger(self, trigger: Trigger) -> None:
        """Stop delivering events for ``trigger``."""


@dataclass(slots=True)
class TriggerType:
    id: str
    description: str
    owner: TriggerOwner
    worker_id: str | None = None
    """The owning worker connection, ``None`` for a module's built-in type."""


class TriggerRegistry:
    """Trigger type id → type; trigger id → trigger (kept while dormant, i.e. type owner gone)."""

    def __init__(self) -> None:
        self.types: dict[str, TriggerType] = {}
        self.triggers: dict[str, Trigger] = {}

    def of_type(self, type_id: str) -> list[Trigger]:
        return [t for t in self.triggers.values() if t.trigger_type == type_id]
