"""``modules::api::RestApiModule``: the ``http`` trigger type served by one aiohttp listener."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.web_request import BaseRequest
from iii_engine import ConfigView, Engine, InvocationError, Module, Trigger, TriggerError, hookimpl

from . import response
from .cors import CorsPolicy, is_preflight
from .exchange import Exchange
from .request import PayloadTooLarge, request_headers
from .router import MethodNotAllowed, Route, RouteTable

TRIGGER_TYPE = "http"
ROUTABLE_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
DEFAULT_PORT = 3111
DEFAULT_TIMEOUT_MS = 30_000
DEFAULT_CONCURRENCY = 1024
DEFAULT_BODY_LIMIT = 8 * 1024 * 1024
SHUTDOWN_GRACE_S = 2.0
"""How long in-flight requests may finish at shutdown (their workers are already gone)."""


def read_cors(config: ConfigView) -> CorsPolicy:
    """The ``cors`` section: absent means fully permissive."""
    section = config.section("cors")
    if not config.has_section("cors"):
        return CorsPolicy()
    policy = []
    for key in ("allowed_origins", "allowed_methods"):
        values = section.list(key, [])
        if not all(isinstance(v, str) for v in values):
            raise section.error(key, "expected a list of strings")
        policy.append(values)
    section.reject_unknown()
    return CorsPolicy(*policy)


class RestApiModule(Module):
    """HTTP triggers: routes follow ``http`` trigger registrations live; every request is one
    invocation of the route's function (ENGINE-FUNCTIONS §9.1, MODULES §2)."""

    logger_name = "iii::modules::api"

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        super().__init__(engine, config)
        self.port: int = config.int("port", DEFAULT_PORT, minimum=0)
        if self.port > 65535:
            raise config.error("port", f"must be at most 65535, got {self.port}")
        self.host: str = config.str("host", "0.0.0.0")
        self.timeout_s: float = config.int("default_timeout", DEFAULT_TIMEOUT_MS, minimum=1) / 1000
        self.concurrency = asyncio.Semaphore(
            config.int("concurrency_request_limit", DEFAULT_CONCURRENCY, minimum=1)
        )
        self.body_limit: int = config.int("body_limit", DEFAULT_BODY_LIMIT, minimum=0)
        self.cors = read_cors(config)
        config.reject_unknown()
        self.routes = RouteTable()
        self._bindings: dict[tuple[str, str], dict[str, Route]] = {}
        """Route slot → the triggers bound to it, latest last (the latest one serves)."""
        self._slot_of: dict[str, tuple[str, str]] = {}
        self._runner: web.ServerRunner | None = None
        self._request_line: Callable[[str], None] | None = None
        """Writes the per-request log line; ``None`` when the log level leaves it out."""
        self.loop: asyncio.AbstractEventLoop | None = None
        """The engine's event loop, kept at init: ``asyncio.get_running_loop()`` costs a
        ``getpid`` system call per use on Python 3.11, and the request path needs the loop."""

    # -- lifecycle -------------------------------------------------------------------------------

    @hookimpl
    async def iii_module_init(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._request_line = self.engine.line_logger(self.logger_name, "info")
        server = web.Server(self.handle, access_log=None)
        self._runner = web.ServerRunner(
            server, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise OSError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self.log.info(f"REST API listening on {self.host}:{self.port}")

    @hookimpl
    def iii_module_register(self) -> None:
        self.engine.register_trigger_type(TRIGGER_TYPE, "HTTP API trigger", self)

    @hookimpl
    async def iii_module_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- trigger owner ---------------------------------------------------------------------------

    async def register_trigger(self, trigger: Trigger) -> None:
        config = trigger.config if isinstance(trigger.config, dict) else {}
        api_path = config.get("api_path")
        if not isinstance(api_path, str):
            raise TriggerError("http trigger requires 'api_path' (a string)")
        method = config.get("http_method", "GET")
        method = method.upper() if isinstance(method, str) else ""
        if method not in ROUTABLE_METHODS:
            self.log.warning(
                "http trigger stored without a route: unsupported http_method",
                trigger_id=trigger.id,
                http_method=config.get("http_method"),
            )
            return
        route = Route.of(method, api_path, trigger.function_id, trigger.id, trigger.condition_function_id)
        bound = self._bindings.setdefault(route.key, {})
        bound[trigger.id] = route
        self._slot_of[trigger.id] = route.key
        self.routes.add(route)
        self.log.debug(
            f"[REGISTERED] Endpoint {method} /{api_path.lstrip('/')}", function=trigger.function_id
        )

    async def unregister_trigger(self, trigger: Trigger) -> None:
        """Remove the trigger's route; another trigger bound to the same slot takes over."""
        key = self._slot_of.pop(trigger.id, None)
        if key is None:
            return
        bound = self._bindings[key]
        route = bound.pop(trigger.id)
        current = self.routes.get(route.method, route.api_path)
        if current is not None and current.trigger_id == trigger.id:
            if bound:
                self.routes.add(next(reversed(bound.values())))
            else:
                self.routes.remove(route.method, route.api_path)
        if not bound:
            del self._bindings[key]

    # -- requests --------------------------------------------------------------------------------

    async def handle(self, request: BaseRequest) -> web.StreamResponse:
        """aiohttp's handler for every request: CORS, routing, limits, then the exchange."""
        started = time.perf_counter()
        status = 500
        try:
            reply = await self._serve(request, started)
            status = reply.status
            return reply
        finally:
            if self._request_line is not None:
                duration_ms = (time.perf_counter() - started) * 1000
                self._request_line(f"{request.method} {request.path} {status} {duration_ms:.3f}ms")

    async def _serve(self, request: BaseRequest, started: float) -> web.StreamResponse:
        headers = request_headers(request.raw_headers)
        origin = headers.get("origin")
        method = request.method
        if is_preflight(method, headers):
            return response.empty(200, self.cors.preflight_headers(origin, headers))
        reply_headers = self.cors.response_headers(origin)
        path = request.raw_path
        query_at = path.find("?")
        if query_at >= 0:
            path = path[:query_at]
        try:
            found = self.routes.match(method, path[1:])
        except MethodNotAllowed:
            return response.empty(405, reply_headers)
        if found is None:
            return response.empty(404, reply_headers)
        length = request.content_length
        if length is not None and length > self.body_limit:
            return response.too_large(reply_headers)
        route, segments = found
        assert self.loop is not None
        deadline = self.loop.time() + self.timeout_s - (time.perf_counter() - started)
        exchange = Exchange(self, request, route, segments, headers, deadline)
        if self.concurrency.locked():
            try:
                async with asyncio.timeout_at(deadline):
                    await self.concurrency.acquire()
            except TimeoutError:
                return response.empty(504, reply_headers)
        else:
            await self.concurrency.acquire()
        try:
            return await exchange.run(reply_headers)
        except PayloadTooLarge:
            return response.too_large(reply_headers)
        finally:
            self.concurrency.release()

    def failure(self, error: InvocationError, route: Route, reply_headers: dict[str, str]) -> web.Response:
        """The 500 answer for a failed function or condition, logged with its ``error_id``."""
        correlation = response.error_id()
        self.log.error(
            "HTTP function failed", function=route.function_id, error_id=correlation, error=error.to_body()
        )
        return web.Response(
            status=500,
            body=response.error_body(error.message, correlation),
            headers={**reply_headers, **response.JSON_HEADERS},
        )
