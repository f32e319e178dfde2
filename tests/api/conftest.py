"""Fixtures for the REST API tests: an engine with RestApiModule + HttpFunctionsModule, iii-sdk
workers, and an aiohttp client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from iii import InitOptions, register_worker
from iii.iii import III

from tests.conftest import EngineProcess

WAIT_S = 5.0
API_CONFIG = """
port: {ENGINE_PORT}
modules:
  - class: modules::api::RestApiModule
    config:
      host: 127.0.0.1
      port: {HTTP_PORT}
      default_timeout: %(timeout)d
      concurrency_request_limit: %(limit)d
      body_limit: %(body_limit)d
%(cors)s
  - class: modules::http_functions::HttpFunctionsModule
    config:
      security:
        url_allowlist: [localhost, 127.0.0.1]
        block_private_ips: false
        require_https: false
"""


def api_config(
    *, timeout: int = 30000, limit: int = 1024, body_limit: int = 1024 * 1024, cors: str = ""
) -> str:
    return API_CONFIG % {"timeout": timeout, "limit": limit, "body_limit": body_limit, "cors": cors}


class Api:
    """A running engine plus helpers to reach its HTTP port and attach workers."""

    def __init__(self, engine: EngineProcess, session: aiohttp.ClientSession) -> None:
        self.engine = engine
        self.session = session
        self.workers: list[III] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.engine.ports['HTTP_PORT']}"

    def worker(self) -> III:
        client = register_worker(
            self.engine.ws_url, InitOptions(invocation_timeout_ms=10000, otel={"enabled": False})
        )
        self.workers.append(client)
        return client

    def route(
        self,
        client: III,
        function_id: str,
        handler: Callable[..., Any],
        api_path: str,
        method: str = "GET",
        **config: Any,
    ) -> Any:
        client.register_function({"id": function_id}, handler)
        return client.register_trigger(
            {
                "type": "http",
                "function_id": function_id,
                "config": {"api_path": api_path, "http_method": method, **config},
            }
        )

    async def wait_status(
        self, path: str, status: int, method: str = "GET", body: bytes | None = None
    ) -> None:
        """Poll ``path`` for up to 5 s until it answers ``status`` (and ``body``, when given):
        routes appear and vanish asynchronously."""
        deadline = time.monotonic() + WAIT_S
        while True:
            async with self.session.request(method, self.url + path) as reply:
                content = await reply.read()
                if reply.status == status and body in (None, content):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{method} {path} still answers {reply.status} {content!r}, expected {status}"
                )
            await asyncio.sleep(0.05)

    def close(self) -> None:
        for client in self.workers:
            client.shutdown()


@pytest.fixture
async def start_api(engine_factory: Callable[..., EngineProcess]) -> AsyncIterator[Callable[..., Any]]:
    """``await start_api(**api_config options)`` → a running :class:`Api`; all stopped afterwards."""
    apis: list[Api] = []

    async def start(env: dict[str, str] | None = None, **options: Any) -> Api:
        engine = engine_factory(api_config(**options), env=env, wait_ports=("ENGINE_PORT", "HTTP_PORT"))
        api = Api(engine, aiohttp.ClientSession())
        apis.append(api)
        return api

    yield start
    for api in apis:
        api.close()
        await api.session.close()


@pytest.fixture
async def api(start_api: Callable[..., Any]) -> Api:
    return await start_api()
