"""The storage interface of the state module: what a third-party adapter implements.

An adapter is a two-level store, **scope → key → JSON value**, with optional per-key expiry.
It is built by a factory registered in the ``iii.adapters`` entry-point group::

    [project.entry-points."iii.adapters"]
    "mycompany::state::Dynamo" = "mypkg.state:create"

    def create(engine: iii_engine.Engine, config: iii_engine.ConfigView) -> StateAdapter: ...

and named in the config as ``adapter: {class: "mycompany::state::Dynamo", config: {...}}``.
The stream module stores its items through the same interface (scope = stream and group).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Final

from .ops import UpdateOp


class _Missing:
    """The type of :data:`MISSING` (one instance)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
"""Returned for a key that does not exist (a stored JSON ``null`` is ``None``)."""

ExpiryListener = Callable[[str, str, Any], None]
"""``listener(scope, key, old_value)``: a key reached its deadline and was removed."""


def or_none(value: Any) -> Any:
    """``MISSING`` → ``None``, anything else unchanged (for JSON results)."""
    return None if value is MISSING else value


class StateAdapter(ABC):
    """Async scope/key/value storage. Every method is atomic for one key.

    ``ttl_ms`` (a positive integer or ``None``) gives the key a deadline; ``set`` without it
    clears any deadline, ``update`` without it keeps the existing one. When a deadline passes
    the key reads as missing at once and is removed by the adapter soon after, calling the
    expiry listener exactly once (also when several engines share the storage).
    """

    expiry_listener: ExpiryListener | None = None

    def on_expiry(self, listener: ExpiryListener) -> None:
        """Be told about keys removed because their deadline passed."""
        self.expiry_listener = listener

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect / load data. Raise to fail engine start-up."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and disconnect. Must not raise for an adapter that never started."""

    @abstractmethod
    async def get(self, scope: str, key: str) -> Any:
        """The stored value, or :data:`MISSING`."""

    @abstractmethod
    async def set(self, scope: str, key: str, value: Any, ttl_ms: int | None = None) -> Any:
        """Store ``value``; return the previous value or :data:`MISSING`."""

    @abstractmethod
    async def delete(self, scope: str, key: str) -> Any:
        """Remove the key; return the previous value or :data:`MISSING`."""

    @abstractmethod
    async def update(
        self, scope: str, key: str, ops: list[UpdateOp], ttl_ms: int | None = None
    ) -> tuple[Any, Any]:
        """Apply ``ops`` atomically (see :func:`iii_state.ops.apply_ops`); return ``(old, new)``
        where ``old`` is :data:`MISSING` for a key that did not exist."""

    @abstractmethod
    async def list(self, scope: str) -> list[Any]:
        """All values of ``scope`` (``[]`` for an unknown scope)."""

    @abstractmethod
    async def list_scopes(self, prefix: str = "") -> list[str]:
        """Scopes that hold (or held) keys, starting with ``prefix``; any order."""
