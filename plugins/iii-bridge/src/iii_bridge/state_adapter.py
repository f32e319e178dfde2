"""``modules::state::adapters::Bridge``: state kept by a remote engine, reached through its ``state::*``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from iii_engine import ConfigView, Engine
from iii_state import MISSING, StateAdapter, UpdateOp

from .remote import DEFAULT_URL, RemoteEngine


def missing_if_none(value: Any) -> Any:
    """The remote answers "no value" with no result (``None``); adapters speak :data:`MISSING`."""
    return MISSING if value is None else value


def ops_to_wire(ops: list[UpdateOp]) -> list[dict[str, Any]]:
    """Parsed update ops back to their JSON form for the remote ``*::update``."""
    return [{key: value for key, value in asdict(op).items() if value is not None} for op in ops]


class BridgeStateAdapter(StateAdapter):
    """Every call is the same-named ``state::*`` call on the remote engine.

    Expiry (``ttl_ms``) is applied by the remote engine; its expiry events fire there.
    """

    def __init__(self, remote: RemoteEngine) -> None:
        self.remote = remote

    async def start(self) -> None:
        await self.remote.start()

    async def close(self) -> None:
        await self.remote.stop()

    async def get(self, scope: str, key: str) -> Any:
        return missing_if_none(await self.remote.call("state::get", {"scope": scope, "key": key}))

    async def set(self, scope: str, key: str, value: Any, ttl_ms: int | None = None) -> Any:
        request: dict[str, Any] = {"scope": scope, "key": key, "value": value}
        if ttl_ms is not None:
            request["ttl_ms"] = ttl_ms
        result = await self.remote.call("state::set", request)
        return missing_if_none(result.get("old_value") if isinstance(result, dict) else None)

    async def delete(self, scope: str, key: str) -> Any:
        return missing_if_none(await self.remote.call("state::delete", {"scope": scope, "key": key}))

    async def update(
        self, scope: str, key: str, ops: list[UpdateOp], ttl_ms: int | None = None
    ) -> tuple[Any, Any]:
        request: dict[str, Any] = {"scope": scope, "key": key, "ops": ops_to_wire(ops)}
        if ttl_ms is not None:
            request["ttl_ms"] = ttl_ms
        result = await self.remote.call("state::update", request)
        result = result if isinstance(result, dict) else {}
        return missing_if_none(result.get("old_value")), result.get("new_value")

    async def list(self, scope: str) -> list[Any]:
        values = await self.remote.call("state::list", {"scope": scope})
        return values if isinstance(values, list) else []

    async def list_scopes(self, prefix: str = "") -> list[str]:
        listed = await self.remote.call("state::list_groups", {})
        groups = listed.get("groups", []) if isinstance(listed, dict) else []
        return [group for group in groups if isinstance(group, str) and group.startswith(prefix)]


def create(engine: Engine, config: ConfigView) -> StateAdapter:
    """``bridge_url`` (default ``ws://localhost:49134``): the remote engine's worker URL."""
    url = config.str("bridge_url", DEFAULT_URL)
    return BridgeStateAdapter(RemoteEngine(url, name="iii-bridge-state"))
