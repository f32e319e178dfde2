"""``modules::bridge_client::BridgeClientModule``: this engine as a worker of a remote engine.

* ``expose``: functions of this engine registered on the remote (the remote calls them here);
* ``forward``: local function ids that call functions of the remote;
* ``bridge.invoke`` / ``bridge.invoke_async``: call any remote function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iii_engine import ConfigView, Engine, Invocation, InvocationError, Module, hookimpl
from iii_steps.errors import RemoteError

from .remote import DEFAULT_TIMEOUT_S, RemoteEngine, default_url


@dataclass(frozen=True, slots=True)
class Route:
    """One ``expose`` or ``forward`` entry: a local id paired with a remote id."""

    local_function: str
    remote_function: str
    timeout_s: float = DEFAULT_TIMEOUT_S


def _routes(config: ConfigView, key: str, *, remote_required: bool) -> list[Route]:
    entries = config.list(key, [])
    routes = []
    for index, entry in enumerate(entries):
        where = f"{key}[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("local_function"), str):
            raise config.error(key, f"{where}: needs a 'local_function' string")
        remote = entry.get("remote_function")
        if remote is None and not remote_required:
            remote = entry["local_function"]
        if not isinstance(remote, str):
            raise config.error(key, f"{where}: needs a 'remote_function' string")
        timeout_ms = entry.get("timeout_ms", int(DEFAULT_TIMEOUT_S * 1000))
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise config.error(key, f"{where}: 'timeout_ms' must be a positive integer")
        routes.append(Route(entry["local_function"], remote, timeout_ms / 1000))
    return routes


def _parse_error(detail: str) -> InvocationError:
    return InvocationError("deserialization_error", f"Failed to parse invoke input: {detail}")


class BridgeClientModule(Module):
    """Joins the engine at ``url`` as a worker. Config is lenient (unknown keys ignored)."""

    logger_name = "iii::modules::bridge_client"

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        super().__init__(engine, config)
        self.url = config.str("url") or default_url()
        self.service_id = config.str("service_id")
        self.service_name = config.str("service_name") or self.service_id
        self.expose = _routes(config, "expose", remote_required=False)
        self.forward = _routes(config, "forward", remote_required=True)
        self.remote = RemoteEngine(self.url, name=self.service_name or "iii-bridge")

    @hookimpl
    def iii_module_register(self) -> None:
        self.engine.register_function(
            "bridge.invoke", self.invoke, description="Invoke a function on the remote engine"
        )
        self.engine.register_function(
            "bridge.invoke_async",
            self.invoke_async,
            description="Invoke a function on the remote engine (no result)",
        )
        for route in self.forward:
            self.engine.register_function(
                route.local_function,
                self._forwarder(route),
                description=f"Forwarded to {route.remote_function}",
            )
        for route in self.expose:
            self.remote.worker.register_function(route.remote_function, self._exposer(route))

    @hookimpl
    async def iii_module_start(self) -> None:
        if not await self.remote.start():
            self.log.warning("remote engine not reachable yet; retrying in the background", url=self.url)

    @hookimpl
    async def iii_module_stop(self) -> None:
        await self.remote.stop()

    # -- functions -----------------------------------------------------------------------------

    @staticmethod
    def _call_input(invocation: Invocation) -> tuple[str, Any, float]:
        """``{function_id, data?, timeout_ms?}`` of ``bridge.invoke`` / ``bridge.invoke_async``."""
        data = invocation.data
        if not isinstance(data, dict) or not isinstance(data.get("function_id"), str):
            raise _parse_error("expected an object with a string `function_id`")
        timeout_ms = data.get("timeout_ms")
        if timeout_ms is None:
            timeout_ms = int(DEFAULT_TIMEOUT_S * 1000)
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise _parse_error("`timeout_ms` must be a positive integer")
        return data["function_id"], data.get("data"), timeout_ms / 1000

    async def invoke(self, invocation: Invocation) -> Any:
        function_id, data, timeout_s = self._call_input(invocation)
        return await self.remote.call(function_id, data, timeout_s)

    async def invoke_async(self, invocation: Invocation) -> None:
        function_id, data, _ = self._call_input(invocation)
        await self.remote.call_void(function_id, data)

    def _forwarder(self, route: Route) -> Any:
        async def forward(invocation: Invocation) -> Any:
            return await self.remote.call(route.remote_function, invocation.data, route.timeout_s)

        return forward

    def _exposer(self, route: Route) -> Any:
        async def expose(data: Any) -> Any:
            try:
                return await self.engine.invoke(route.local_function, data, source="bridge")
            except InvocationError as exc:
                raise RemoteError(exc.code, exc.message, exc.stacktrace) from None

        return expose
