"""HTTP triggers end to end: real engine, real iii-sdk Python workers, real HTTP requests."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from iii.channels import ChannelReader, ChannelWriter

from .conftest import Api


async def test_request_object_and_json_response(api: Api) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return {"status_code": 201, "body": {"id": request["path_params"]["id"]}}

    api.route(api.worker(), "api.users.update", handler, "/users/:id", "POST")
    await api.wait_status("/users/1", 405)
    async with api.session.post(
        api.url + "/users/42?x=1&x=2&q=a+b%21", json={"name": "n"}, headers={"X-Custom": "v1"}
    ) as reply:
        assert reply.status == 201
        assert reply.headers["content-type"] == "application/json"
        assert await reply.json() == {"id": "42"}
    request = seen[-1]
    assert request["method"] == "POST"
    assert request["path"] == "/users/:id"
    assert request["path_params"] == {"id": "42"}
    assert request["query_params"] == {"x": "2", "q": "a b!"}
    assert request["headers"]["x-custom"] == "v1"
    assert request["body"] == {"name": "n"}
    assert request["trigger"] == {"type": "http", "path": "/users/:id", "method": "POST"}
    assert isinstance(request["request_body"], ChannelReader)  # the SDK replaced the refs
    assert isinstance(request["response"], ChannelWriter)


async def test_result_shapes(api: Api) -> None:
    worker = api.worker()
    api.route(worker, "api.camel", lambda _: {"statusCode": 202, "body": [1, 2]}, "camel")
    api.route(worker, "api.plain", lambda _: "just a string", "plain")
    api.route(worker, "api.nobody", lambda _: {"status_code": 418}, "nobody")
    api.route(
        worker, "api.headers", lambda _: {"body": {}, "headers": {"x-extra": "1", "bad name": "x"}}, "headers"
    )
    await api.wait_status("/headers", 200)
    for path, status, body in (("/camel", 202, [1, 2]), ("/plain", 200, {}), ("/nobody", 418, {})):
        async with api.session.get(api.url + path) as reply:
            assert (reply.status, await reply.json()) == (status, body)
    async with api.session.get(api.url + "/headers") as reply:
        assert reply.headers["x-extra"] == "1"
        assert "bad name" not in reply.headers
    async with api.session.head(api.url + "/plain") as reply:
        assert reply.status == 200
        assert await reply.read() == b""


async def test_errors_timeouts_and_other_requests_keep_flowing(start_api: Any) -> None:
    api: Api = await start_api(timeout=1000)
    worker = api.worker()

    def boom(_: Any) -> None:
        raise ValueError("kaboom")

    def slow(_: Any) -> dict[str, Any]:
        time.sleep(2)
        return {"body": "late"}

    api.route(worker, "api.boom", boom, "boom")
    api.route(worker, "api.slow", slow, "slow")
    api.route(worker, "api.ok", lambda _: {"body": {"ok": True}}, "ok")
    await api.wait_status("/ok", 200)

    async def get(path: str) -> tuple[int, Any]:
        async with api.session.get(api.url + path) as reply:
            body = await reply.read()
            return reply.status, body

    started = time.monotonic()
    slow_call = asyncio.ensure_future(get("/slow"))
    await asyncio.sleep(0.1)
    assert [await get("/ok") for _ in range(5)] == [(200, b'{"ok":true}')] * 5
    status, body = await slow_call
    assert (status, body) == (504, b"")
    assert 0.9 < time.monotonic() - started < 1.8
    async with api.session.get(api.url + "/boom") as reply:
        assert reply.status == 500
        error = await reply.json()
        assert error["error"] == "kaboom"
        assert len(error["error_id"]) <= 12
        int(error["error_id"], 16)
    api.engine.process.poll()
    assert api.engine.process.returncode is None
    log = api.engine.log()
    assert re.search(r"iii::modules::api GET /slow 504 \d+\.\d{3}ms", log), log
    assert error["error_id"] in log


async def test_unregistered_function_gives_500_then_route_removal_gives_404(api: Api) -> None:
    worker = api.worker()
    worker.register_function({"id": "api.health"}, lambda _: {"body": {"status": "healthy"}})
    await api.wait_status("/health", 404)
    trigger = worker.register_trigger(
        {"type": "http", "function_id": "api.health", "config": {"api_path": "health"}}
    )
    await api.wait_status("/health", 200)
    worker.register_trigger({"type": "http", "function_id": "api.missing", "config": {"api_path": "gone"}})
    await api.wait_status("/gone", 500)
    trigger.unregister()
    await api.wait_status("/health", 404)


async def test_two_workers_come_and_go(api: Api) -> None:
    first, second = api.worker(), api.worker()
    api.route(first, "api.first", lambda _: {"body": "first"}, "shared")
    api.route(first, "api.only.first", lambda _: {"body": "only"}, "only/:x")
    await api.wait_status("/only/1", 200)
    api.route(second, "api.second", lambda _: {"body": "second"}, "shared")

    await api.wait_status("/shared", 200, body=b'"second"')
    second.shutdown()
    api.workers.remove(second)
    await api.wait_status("/shared", 200, body=b'"first"')
    first.shutdown()
    api.workers.remove(first)
    await api.wait_status("/shared", 404)
    await api.wait_status("/only/1", 404)


async def test_condition_function(api: Api) -> None:
    worker = api.worker()
    calls: list[Any] = []
    worker.register_function({"id": "api.cond"}, lambda req: req["query_params"].get("allow") != "no")

    def failing_condition(_: Any) -> None:
        raise RuntimeError("condition broke")

    worker.register_function({"id": "api.cond.fail"}, failing_condition)
    api.route(
        worker,
        "api.guarded",
        lambda req: calls.append(req) or {"body": "in"},
        "guarded",
        condition_function_id="api.cond",
    )
    api.route(
        worker, "api.guarded2", lambda _: {"body": "in"}, "guarded2", condition_function_id="api.cond.fail"
    )
    await api.wait_status("/guarded", 200)
    async with api.session.get(api.url + "/guarded?allow=no") as reply:
        assert reply.status == 422
        assert await reply.json() == {"error": "Request condition not met", "skipped": True}
    async with api.session.get(api.url + "/guarded2") as reply:
        assert reply.status == 500
        assert (await reply.json())["error"] == "condition broke"
    assert all("request_body" in call for call in calls)


async def test_concurrency_limit_queues_requests(start_api: Any) -> None:
    api: Api = await start_api(limit=1)
    worker = api.worker()

    def slow(_: Any) -> dict[str, Any]:
        time.sleep(0.5)
        return {"body": "done"}

    api.route(worker, "api.slow", slow, "slow")
    await api.wait_status("/slow", 200)

    async def get() -> int:
        async with api.session.get(api.url + "/slow") as reply:
            return reply.status

    started = time.monotonic()
    assert await asyncio.gather(get(), get(), get()) == [200, 200, 200]
    assert time.monotonic() - started > 1.4


async def test_shutdown_answers_in_flight_requests(api: Api) -> None:
    def slow(_: Any) -> dict[str, Any]:
        time.sleep(20)
        return {"body": "too late"}

    api.route(api.worker(), "api.slow", slow, "slow")
    await api.wait_status("/nowhere", 404)
    await asyncio.sleep(0.3)
    pending = asyncio.ensure_future(api.session.get(api.url + "/slow"))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    assert await asyncio.to_thread(api.engine.stop) == 0
    assert time.monotonic() - started < 8
    reply = await pending
    assert reply.status == 500  # invocation_stopped: the worker connection was closed
    reply.release()
