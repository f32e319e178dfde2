"""``modules::http_functions::HttpFunctionsModule``: functions a worker registers with an
``invocation`` object are executed by the engine as HTTP calls (MODULES §10)."""

from __future__ import annotations

import os
from typing import Any

import aiohttp
from iii_engine import (
    ConfigError,
    ConfigView,
    Engine,
    Invocation,
    InvocationError,
    Module,
    WorkerConnection,
    hookimpl,
)

from .http_function import HttpFunction
from .url_policy import UrlPolicy, UrlRejected


def read_policy(config: ConfigView) -> UrlPolicy:
    security = config.section("security")
    allowlist = security.list("url_allowlist", ["*"])
    if not all(isinstance(pattern, str) for pattern in allowlist):
        raise security.error("url_allowlist", "expected a list of strings")
    return UrlPolicy(
        allowlist, security.bool("block_private_ips", True), security.bool("require_https", True)
    )


class HttpFunctionsModule(Module):
    """Takes the kernel's ``iii_remote_function`` hook: validates the URL and auth at registration
    and builds a handler that calls the URL with aiohttp (one shared connection pool)."""

    logger_name = "iii::modules::http_functions"

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        super().__init__(engine, config)
        self.policy = read_policy(config)
        self._session: aiohttp.ClientSession | None = None

    @hookimpl
    def iii_module_start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True), auto_decompress=True
        )

    @hookimpl
    async def iii_module_stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @hookimpl
    def iii_remote_function(
        self, worker: WorkerConnection, function_id: str, invocation: dict[str, Any]
    ) -> Any:
        function = HttpFunction.from_registration(function_id, invocation, os.environ)
        try:
            self.policy.check_static(function.url)
        except UrlRejected as exc:
            raise ConfigError(f"url_validation_failed: {exc} ({function.url})") from None
        if self.policy.block_private_ips:
            self.engine.spawn(self._check_resolved(worker, function), name=f"http-function-dns:{function_id}")
        self.log.debug(f"[REGISTERED] HTTP function {function_id} → {function.method} {function.url}")

        async def handler(call: Invocation) -> Any:
            if self._session is None:
                raise InvocationError("http_request_failed", "the HTTP functions module is stopped")
            return await function.call(self._session, self.policy, call)

        return handler

    async def _check_resolved(self, worker: WorkerConnection, function: HttpFunction) -> None:
        """The DNS part of registration-time validation, off the worker's message loop: a host
        that resolves to a blocked address loses its registration."""
        try:
            await self.policy.check(function.url)
        except UrlRejected as exc:
            self.log.error(
                "HTTP-invoked function dropped",
                function=function.function_id,
                url=function.url,
                error=str(exc),
            )
            self.engine.unregister_function(function.function_id, worker_id=worker.id)
