"""CORS: permissive by default, restricted by config; preflights never reach a function."""

from __future__ import annotations

from typing import Any

from .conftest import Api

PREFLIGHT = {
    "Origin": "http://localhost:3000",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type, authorization",
}


async def test_permissive_default(api: Api) -> None:
    calls: list[Any] = []
    api.route(api.worker(), "api.cors", lambda req: calls.append(req) or {"body": "ok"}, "cors", "POST")
    await api.wait_status("/cors", 200, "POST")
    calls.clear()
    async with api.session.options(api.url + "/cors", headers=PREFLIGHT) as reply:
        assert reply.status == 200
        assert reply.headers["access-control-allow-origin"] == "*"
        assert reply.headers["access-control-allow-methods"] == "*"
        assert reply.headers["access-control-allow-headers"] == "content-type, authorization"
    async with api.session.post(api.url + "/cors", headers={"Origin": "http://elsewhere"}) as reply:
        assert reply.headers["access-control-allow-origin"] == "*"
        assert reply.headers["access-control-expose-headers"] == "*"
    assert len(calls) == 1  # only the POST ran the function


CORS = """      cors:
        allowed_origins: ["http://localhost:3000"]
        allowed_methods: [GET, POST]"""


async def test_configured_origins_and_methods(start_api: Any) -> None:
    api: Api = await start_api(cors=CORS)
    api.route(api.worker(), "api.cors", lambda _: {"body": "ok"}, "cors", "POST")
    await api.wait_status("/cors", 200, "POST")
    async with api.session.options(api.url + "/cors", headers=PREFLIGHT) as reply:
        assert reply.status == 200
        assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert reply.headers["access-control-allow-methods"] == "GET, POST"
    async with api.session.options(
        api.url + "/cors", headers={**PREFLIGHT, "Origin": "http://evil"}
    ) as reply:
        assert "access-control-allow-origin" not in reply.headers
    async with api.session.post(api.url + "/cors", headers={"Origin": "http://evil"}) as reply:
        assert reply.status == 200
        assert "access-control-allow-origin" not in reply.headers
    async with api.session.post(api.url + "/cors", headers={"Origin": "http://localhost:3000"}) as reply:
        assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert reply.headers["vary"] == "origin"
