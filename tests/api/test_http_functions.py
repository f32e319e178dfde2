"""HTTP-invoked functions: the engine calls a registered URL (MODULES §10)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets
from aiohttp import web
from iii import HttpInvocationConfig
from iii.iii_types import HttpAuthApiKey, HttpAuthBearer, HttpAuthHmac

from tests.conftest import EngineProcess

from .conftest import Api

SECRETS = {"HOOK_SECRET": "s3cret", "HOOK_TOKEN": "tok-123", "HOOK_KEY": "key-456"}


class Receiver:
    """A local HTTP endpoint that records requests and answers per path."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            {"method": request.method, "path": request.path, "headers": dict(request.headers), "body": body}
        )
        name = request.path.strip("/")
        if name == "slow":
            await asyncio.sleep(2)
        answers: dict[str, web.StreamResponse] = {
            "echo": web.json_response({"echo": json.loads(body)}),
            "empty": web.Response(status=204),
            "text": web.Response(text="plain words"),
            "coded": web.json_response({"error": {"code": "bad_thing", "message": "nope"}}, status=400),
            "crash": web.Response(status=500, text="stack trace here"),
            "moved": web.Response(status=302, headers={"Location": "/echo"}),
        }
        return answers.get(name, web.json_response({"late": True}))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    probe = Receiver()
    await probe.start()
    yield probe
    assert probe.runner is not None
    await probe.runner.cleanup()


@pytest.fixture
async def hooks_api(start_api: Callable[..., Any]) -> Api:
    """An engine whose environment holds the auth secrets the registrations name."""
    return await start_api(env=SECRETS)


async def call(worker: Any, function_id: str, payload: Any) -> Any:
    """``worker.trigger`` blocks; run it off the loop that serves the receiver."""
    return await asyncio.to_thread(worker.trigger, {"function_id": function_id, "payload": payload})


async def test_results_errors_and_request_shape(hooks_api: Api, receiver: Receiver) -> None:
    worker = hooks_api.worker()
    for name in ("echo", "empty", "text", "coded", "crash", "moved"):
        worker.register_function({"id": f"hook.{name}"}, HttpInvocationConfig(url=receiver.url(name)))
    worker.register_function(
        {"id": "hook.put"},
        HttpInvocationConfig(url=receiver.url("echo"), method="PUT", headers={"X-Tenant": "acme"}),
    )
    worker.register_function(
        {"id": "hook.slow"}, HttpInvocationConfig(url=receiver.url("slow"), timeout_ms=300)
    )
    await asyncio.sleep(0.3)

    result = await call(worker, "hook.put", {"n": 1})
    assert result["echo"]["n"] == 1
    sent = receiver.requests[-1]
    assert sent["method"] == "PUT"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["X-Tenant"] == "acme"
    assert sent["headers"]["x-iii-Function-Path"] == "hook.put"
    assert len(sent["headers"]["x-iii-Invocation-ID"]) == 36
    assert sent["headers"]["x-iii-Timestamp"].isdigit()
    assert await call(worker, "hook.empty", {}) is None
    expected_errors = {
        "hook.text": "invalid_response",
        "hook.coded": "'code': 'bad_thing', 'message': 'nope'",
        "hook.crash": "'message': 'HTTP 500 Internal Server Error'",
        "hook.moved": "'message': 'HTTP 302 Found'",
        "hook.slow": "http_request_failed",
    }
    for function_id, fragment in expected_errors.items():
        with pytest.raises(Exception, match=fragment):
            await call(worker, function_id, {})
    assert [r["path"] for r in receiver.requests].count("/echo") == 1  # the redirect was not followed


async def test_auth_headers_and_hmac_signature(hooks_api: Api, receiver: Receiver) -> None:
    worker = hooks_api.worker()
    auths = {
        "hook.hmac": HttpAuthHmac(secret_key="HOOK_SECRET"),
        "hook.bearer": HttpAuthBearer(token_key="HOOK_TOKEN"),
        "hook.apikey": HttpAuthApiKey(header="X-Api-Key", value_key="HOOK_KEY"),
    }
    for function_id, auth in auths.items():
        worker.register_function(
            {"id": function_id}, HttpInvocationConfig(url=receiver.url("echo"), auth=auth)
        )
    await asyncio.sleep(0.3)

    await call(worker, "hook.hmac", {"signed": True})
    sent = receiver.requests[-1]
    message = f"{sent['headers']['x-iii-Timestamp']}:{base64.b64encode(sent['body']).decode()}"
    expected = hmac.new(b"s3cret", message.encode(), hashlib.sha256).hexdigest()
    assert sent["headers"]["x-iii-Signature"] == f"sha256={expected}"
    await call(worker, "hook.bearer", {})
    assert receiver.requests[-1]["headers"]["Authorization"] == "Bearer tok-123"
    await call(worker, "hook.apikey", {})
    assert receiver.requests[-1]["headers"]["X-Api-Key"] == "key-456"


async def registered_ids(ws_url: str, registrations: list[dict[str, Any]]) -> set[str]:
    """Send raw ``registerfunction`` messages, then list functions on the same connection."""
    async with websockets.connect(ws_url) as socket:
        for message in registrations:
            await socket.send(json.dumps({"type": "registerfunction", **message}))
        await asyncio.sleep(0.3)
        await socket.send(
            json.dumps(
                {
                    "type": "invokefunction",
                    "invocation_id": "list",
                    "function_id": "engine::functions::list",
                    "data": {},
                }
            )
        )
        while True:
            reply = json.loads(await socket.recv())
            if reply.get("invocation_id") == "list":
                return {f["function_id"] for f in reply["result"]["functions"]}


async def test_registrations_are_validated(hooks_api: Api, receiver: Receiver) -> None:
    good = receiver.url("echo")
    registrations = [
        {"id": "ok.plain", "invocation": {"url": good}},
        {"id": "bad.host", "invocation": {"url": receiver.url("echo", host="127.0.0.2")}},
        {"id": "bad.scheme", "invocation": {"url": "ftp://127.0.0.1/x"}},
        {"id": "bad.method", "invocation": {"url": good, "method": "post"}},
        {"id": "bad.secret", "invocation": {"url": good, "auth": {"type": "hmac", "secret_key": "NOT_SET"}}},
        {"id": "bad.url", "invocation": {"url": 42}},
    ]
    assert {r["id"] for r in registrations} & await registered_ids(
        hooks_api.engine.ws_url, registrations
    ) == {"ok.plain"}
    log = hooks_api.engine.log()
    assert "secret_not_found" in log and "URL not in allowlist" in log


SECURE = """
port: {ENGINE_PORT}
modules:
  - class: modules::http_functions::HttpFunctionsModule
"""


async def test_default_security_requires_https_and_blocks_private_addresses(
    engine_factory: Callable[..., EngineProcess],
) -> None:
    engine = engine_factory(SECURE)
    registrations = [
        {"id": "plain.http", "invocation": {"url": "http://example.com/hook"}},
        {"id": "private.literal", "invocation": {"url": "https://10.1.2.3/hook"}},
        {"id": "private.dns", "invocation": {"url": "https://localhost/hook"}},
    ]
    assert not {r["id"] for r in registrations} & await registered_ids(engine.ws_url, registrations)
    log = engine.log()
    assert "HTTPS is required" in log and "Private IP blocked" in log
