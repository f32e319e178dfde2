"""``modules::state::StateModule``: the ``state::*`` functions and the ``state`` trigger type."""

from __future__ import annotations

from typing import Any

from iii_engine import (
    ConfigView,
    Engine,
    Input,
    Invocation,
    Module,
    Trigger,
    TriggerError,
    hookimpl,
)
from iii_engine.input import deserialization_error

from .adapter import MISSING, StateAdapter, or_none
from .errors import guarded
from .ops import parse_ops

DEFAULT_ADAPTER = "modules::state::adapters::KvStore"
TRIGGER_TYPE = "state"


def read_ttl(data: Input) -> int | None:
    """The optional ``ttl_ms`` (a positive integer) of ``state::set`` / ``state::update``."""
    ttl = data.optional("ttl_ms", int)
    if ttl is not None and ttl <= 0:
        raise deserialization_error(
            data.function_id, f"invalid value for `ttl_ms`: {ttl}, expected a positive integer"
        )
    return ttl


class StateModule(Module):
    """Scope/key/value state behind an adapter, with ``state`` triggers on every change."""

    logger_name = "iii::modules::state"

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        super().__init__(engine, config)
        self.adapter: StateAdapter = engine.create_adapter(config, DEFAULT_ADAPTER)
        config.reject_unknown()

    # -- lifecycle ---------------------------------------------------------------------------

    @hookimpl
    async def iii_module_init(self) -> None:
        self.adapter.on_expiry(self._expired)
        await self.adapter.start()

    @hookimpl
    def iii_module_register(self) -> None:
        register = self.engine.register_function
        register("state::set", self.set, description="Set a value in state")
        register("state::get", self.get, description="Get a value from state")
        register("state::delete", self.delete, description="Delete a value from state")
        register("state::update", self.update, description="Update a value in state")
        register("state::list", self.list, description="Get a group from state")
        register("state::list_groups", self.list_groups, description="List all state groups")
        self.engine.register_trigger_type(TRIGGER_TYPE, "State change events", self)

    @hookimpl
    async def iii_module_stop(self) -> None:
        await self.adapter.close()

    # -- trigger owner -------------------------------------------------------------------------

    async def register_trigger(self, trigger: Trigger) -> None:
        config = trigger.config
        if not isinstance(config, dict):
            raise TriggerError("state trigger config must be an object with optional scope, key")
        for name in ("scope", "key"):
            if config.get(name) is not None and not isinstance(config[name], str):
                raise TriggerError(f"state trigger config: `{name}` must be a string")

    async def unregister_trigger(self, trigger: Trigger) -> None:
        return None

    # -- functions -----------------------------------------------------------------------------

    async def set(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        scope, key = data.required("scope", str), data.required("key", str)
        if "value" in data.data:
            value = data.data["value"]
        elif "data" in data.data:
            value = data.data["data"]
        else:
            raise deserialization_error(invocation.function_id, "missing field `value`")
        ttl = read_ttl(data)
        old = await guarded("SET_ERROR", "Failed to set value", self.adapter.set(scope, key, value, ttl))
        self._changed(scope, key, old, value)
        return {"old_value": or_none(old), "new_value": value}

    async def get(self, invocation: Invocation) -> Any:
        data = Input(invocation.function_id, invocation.data)
        scope, key = data.required("scope", str), data.required("key", str)
        return or_none(await guarded("GET_ERROR", "Failed to get value", self.adapter.get(scope, key)))

    async def delete(self, invocation: Invocation) -> Any:
        data = Input(invocation.function_id, invocation.data)
        scope, key = data.required("scope", str), data.required("key", str)
        old = await guarded("DELETE_ERROR", "Failed to delete value", self.adapter.delete(scope, key))
        self._emit("state:deleted", scope, key, or_none(old), None)
        return or_none(old)

    async def update(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        scope, key = data.required("scope", str), data.required("key", str)
        ops = parse_ops(invocation.function_id, data.required("ops", list))
        ttl = read_ttl(data)
        old, new = await guarded(
            "UPDATE_ERROR", "Failed to update value", self.adapter.update(scope, key, ops, ttl)
        )
        self._changed(scope, key, old, new)
        return {"old_value": or_none(old), "new_value": new}

    async def list(self, invocation: Invocation) -> list[Any]:
        scope = Input(invocation.function_id, invocation.data).required("scope", str)
        return await guarded("LIST_ERROR", "Failed to list values", self.adapter.list(scope))

    async def list_groups(self, invocation: Invocation) -> dict[str, Any]:
        Input(invocation.function_id, invocation.data)
        scopes = await guarded("LIST_GROUPS_ERROR", "Failed to list groups", self.adapter.list_scopes())
        return {"groups": sorted(set(scopes))}

    # -- events --------------------------------------------------------------------------------

    def _changed(self, scope: str, key: str, old: Any, new: Any) -> None:
        self._emit("state:created" if old is MISSING else "state:updated", scope, key, or_none(old), new)

    def _expired(self, scope: str, key: str, old: Any) -> None:
        self._emit("state:expired", scope, key, old, None)

    def _emit(self, event_type: str, scope: str, key: str, old: Any, new: Any) -> None:
        triggers = [t for t in self.engine.triggers.of_type(TRIGGER_TYPE) if _matches(t, scope, key)]
        if not triggers:
            return
        payload = {
            "type": "state",
            "event_type": event_type,
            "scope": scope,
            "key": key,
            "old_value": old,
            "new_value": new,
        }
        self.engine.spawn(self._deliver(triggers, payload), name=f"state-event:{event_type}")

    async def _deliver(self, triggers: list[Trigger], payload: dict[str, Any]) -> None:
        for trigger in triggers:
            await self.engine.fire(trigger, payload, source="state")


def _matches(trigger: Trigger, scope: str, key: str) -> bool:
    config = trigger.config if isinstance(trigger.config, dict) else {}
    wanted_scope, wanted_key = config.get("scope"), config.get("key")
    return (not wanted_scope or wanted_scope == scope) and (not wanted_key or wanted_key == key)
