"""``modules::stream::StreamModule``: ``stream::*`` functions, custom stream overrides, the
``stream``/``stream:join``/``stream:leave`` trigger types and the client WebSocket server."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

from iii_engine import (
    ConfigView,
    Engine,
    Input,
    Invocation,
    InvocationError,
    Module,
    Trigger,
    TriggerError,
    hookimpl,
)
from iii_state import MISSING, guarded, or_none, parse_ops

from .adapter import StreamAdapter
from .messages import stream_message
from .server import JOIN_TRIGGER, LEAVE_TRIGGER, StreamServer

DEFAULT_ADAPTER = "modules::stream::adapters::KvStore"
DEFAULT_PORT = 3112
TRIGGER_TYPE = "stream"
_NO_RESULT = object()


class _AnyConfig:
    """Owner of ``stream:join`` / ``stream:leave``: their config is ignored."""

    async def register_trigger(self, trigger: Trigger) -> None:
        return None

    async def unregister_trigger(self, trigger: Trigger) -> None:
        return None


def _item_key(data: Input) -> tuple[str, str, str]:
    return data.required("stream_name", str), data.required("group_id", str), data.required("item_id", str)


def _write_result(op: str, result: Any, *keys: str) -> dict[str, Any]:
    """Check a custom stream's ``set``/``delete``/``update`` result (an object with ``keys``)."""
    if result is None:
        raise InvocationError(
            f"STREAM_{op.upper()}_ERROR", f"Failed to {op} value: the custom stream returned nothing"
        )
    if not isinstance(result, dict):
        raise InvocationError(
            "JSON_ERROR", f"Failed to convert result to value: expected an object, got {result!r}"
        )
    return {key: result.get(key) for key in keys}


class StreamModule(Module):
    """Three-level item store (stream → group → item) whose changes are pushed to clients."""

    logger_name = "iii::modules::stream"

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        super().__init__(engine, config)
        port = config.int("port", DEFAULT_PORT, minimum=0)
        host = config.str("host", "0.0.0.0")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise config.error(
                "host", f"invalid stream bind address {host!r}: expected an IP address"
            ) from None
        auth_function = config.str("auth_function")
        self.adapter: StreamAdapter = engine.create_adapter(config, DEFAULT_ADAPTER)
        config.reject_unknown()
        self.server = StreamServer(engine, host, port, auth_function, self.read_item, self.read_group)

    # -- lifecycle ---------------------------------------------------------------------------

    @hookimpl
    async def iii_module_init(self) -> None:
        self.adapter.on_message(self.server.hub.deliver)
        await self.adapter.start()
        await self.server.listen()

    @hookimpl
    def iii_module_register(self) -> None:
        register = self.engine.register_function
        register("stream::set", self.set, description="Set a value in a stream")
        register("stream::get", self.get, description="Get a value from a stream")
        register("stream::delete", self.delete, description="Delete a value from a stream")
        register("stream::list", self.list, description="List all items in a stream group")
        register("stream::list_groups", self.list_groups, description="List all groups in a stream")
        register("stream::list_all", self.list_all, description="List all available stream with metadata")
        register("stream::send", self.send, description="Send a custom event to stream subscribers")
        register(
            "stream::update",
            self.update,
            description="Atomically update a stream value with multiple operations",
        )
        self.engine.register_trigger_type(TRIGGER_TYPE, "Stream change events", self)
        self.engine.register_trigger_type(JOIN_TRIGGER, "Stream client joins (may refuse them)", _AnyConfig())
        self.engine.register_trigger_type(LEAVE_TRIGGER, "Stream client leaves", _AnyConfig())

    @hookimpl
    async def iii_module_stop(self) -> None:
        await self.server.close()
        await self.adapter.close()

    # -- ``stream`` trigger owner ------------------------------------------------------------

    async def register_trigger(self, trigger: Trigger) -> None:
        config = trigger.config
        if not isinstance(config, dict) or not isinstance(config.get("stream_name"), str):
            raise TriggerError("stream trigger config needs `stream_name` (a string)")
        for name in ("group_id", "item_id"):
            if config.get(name) is not None and not isinstance(config[name], str):
                raise TriggerError(f"stream trigger config: `{name}` must be a string")

    async def unregister_trigger(self, trigger: Trigger) -> None:
        return None

    # -- custom stream overrides -------------------------------------------------------------

    async def _override(self, op: str, stream: str, payload: dict[str, Any]) -> Any:
        """The result of the worker's ``stream::<op>(<stream>)`` if one is registered, else
        ``_NO_RESULT``. Errors of the override propagate."""
        function_id = f"stream::{op}({stream})"
        if function_id not in self.engine.functions:
            return _NO_RESULT
        return await self.engine.invoke(function_id, payload, source="stream")

    async def _override_write(self, op: str, stream: str, payload: dict[str, Any]) -> Any:
        """Like :meth:`_override`, with errors as ``STREAM_<OP>_ERROR``."""
        try:
            return await self._override(op, stream, payload)
        except InvocationError as exc:
            raise InvocationError(
                f"STREAM_{op.upper()}_ERROR", f"Failed to {op} value: {exc.message}"
            ) from None

    # -- reads (also used for the clients' initial sync) -------------------------------------

    async def read_item(self, stream: str, group: str, item: str) -> Any:
        payload = {"stream_name": stream, "group_id": group, "item_id": item}
        result = await self._override("get", stream, payload)
        if result is not _NO_RESULT:
            return result
        value = await guarded(
            "STREAM_GET_ERROR", "Failed to get value", self.adapter.get(stream, group, item)
        )
        return or_none(value)

    async def read_group(self, stream: str, group: str) -> Any:
        result = await self._override("list", stream, {"stream_name": stream, "group_id": group})
        if result is not _NO_RESULT:
            return result
        return await guarded(
            "STREAM_GET_GROUP_ERROR", "Failed to get group", self.adapter.list(stream, group)
        )

    # -- functions ---------------------------------------------------------------------------

    async def get(self, invocation: Invocation) -> Any:
        return await self.read_item(*_item_key(Input(invocation.function_id, invocation.data)))

    async def list(self, invocation: Invocation) -> Any:
        data = Input(invocation.function_id, invocation.data)
        return await self.read_group(data.required("stream_name", str), data.required("group_id", str))

    async def list_groups(self, invocation: Invocation) -> Any:
        stream = Input(invocation.function_id, invocation.data).required("stream_name", str)
        result = await self._override("list_groups", stream, {"stream_name": stream})
        if result is not _NO_RESULT:
            return result
        listing = self.adapter.list_groups(stream)
        return await guarded("STREAM_LIST_GROUPS_ERROR", "Failed to list groups", listing)

    async def list_all(self, invocation: Invocation) -> dict[str, Any]:
        Input(invocation.function_id, invocation.data)
        streams = await guarded("STREAM_LIST_ALL_ERROR", "Failed to list streams", self.adapter.list_all())
        listed = [{"id": name, "groups": sorted(groups)} for name, groups in sorted(streams.items())]
        return {"stream": listed, "count": len(listed)}

    async def set(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        stream, group, item = _item_key(data)
        value = data.required("data")

        async def store() -> tuple[Any, Any]:
            return await self.adapter.set(stream, group, item, value), value

        payload = {"stream_name": stream, "group_id": group, "item_id": item, "data": value}
        return await self._write("set", payload, store)

    async def update(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        stream, group, item = _item_key(data)
        raw_ops = data.required("ops", list)
        ops = parse_ops(invocation.function_id, raw_ops)
        payload = {"stream_name": stream, "group_id": group, "item_id": item, "ops": raw_ops}
        return await self._write("update", payload, lambda: self.adapter.update(stream, group, item, ops))

    async def _write(
        self, op: str, payload: dict[str, Any], store: Callable[[], Awaitable[tuple[Any, Any]]]
    ) -> dict[str, Any]:
        """``set``/``update``: through the custom stream if there is one, else ``store()``
        (→ ``(old or MISSING, new)``); then the ``create``/``update`` event."""
        stream, group, item = payload["stream_name"], payload["group_id"], payload["item_id"]
        result = await self._override_write(op, stream, payload)
        if result is _NO_RESULT:
            old, new = await guarded(f"STREAM_{op.upper()}_ERROR", f"Failed to {op} value", store())
            result = {"old_value": or_none(old), "new_value": new}
            created = old is MISSING
        else:
            result = _write_result(op, result, "old_value", "new_value")
            created = result["old_value"] is None
        event = {"type": "create" if created else "update", "data": result["new_value"]}
        self._emit(stream, group, item, event)
        return result

    async def delete(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        stream, group, item = _item_key(data)
        payload = {"stream_name": stream, "group_id": group, "item_id": item}
        result = await self._override_write("delete", stream, payload)
        if result is _NO_RESULT:
            old = await guarded(
                "STREAM_DELETE_ERROR", "Failed to delete value", self.adapter.delete(stream, group, item)
            )
            result = {"old_value": or_none(old)}
            deleted = old is not MISSING
        else:
            result = _write_result("delete", result, "old_value")
            deleted = result["old_value"] is not None
        if deleted:
            self._emit(stream, group, item, {"type": "delete", "data": result["old_value"]})
        return result

    async def send(self, invocation: Invocation) -> None:
        data = Input(invocation.function_id, invocation.data)
        stream, group = data.required("stream_name", str), data.required("group_id", str)
        item = data.optional("id", str)
        event_type = data.required("type", str)
        value = data.required("data")
        self._emit(stream, group, item, {"type": "event", "event": {"type": event_type, "data": value}})
        return None

    # -- events ------------------------------------------------------------------------------

    def _emit(self, stream: str, group: str, item: str | None, event: dict[str, Any]) -> None:
        """Publish to subscribers (every engine) and fire matching ``stream`` triggers, after
        the caller has its result."""
        message = stream_message(stream, group, item, event)
        self.adapter.publish(message)
        triggers = [t for t in self.engine.triggers.of_type(TRIGGER_TYPE) if _matches(t.config, message)]
        if triggers:
            self.engine.spawn(self._deliver(triggers, message), name="stream-event")

    async def _deliver(self, triggers: list[Trigger], message: dict[str, Any]) -> None:
        for trigger in triggers:
            await self.engine.fire(trigger, message, source="stream")


def _matches(config: Any, message: dict[str, Any]) -> bool:
    if not isinstance(config, dict) or config.get("stream_name") != message["streamName"]:
        return False
    group, item = config.get("group_id"), config.get("item_id")
    return (not group or group == message["groupId"]) and (not item or item == message["id"])
