"""A convenience base class for modules (optional: any class with this constructor works)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ConfigView
    from .engine import Engine


class Module:
    """Holds the engine, the module's config view and a logger named after the module.

    The kernel builds a module as ``ModuleClass(engine, config)``; ``config`` is a
    :class:`~iii_engine.config.ConfigView` of the entry's ``config:`` mapping. Hook
    implementations are methods decorated with :data:`iii_engine.hookimpl`.
    """

    logger_name = "iii::modules"

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        self.engine = engine
        self.config = config
        self.log: Any = engine.logger(self.logger_name)
