"""Bad input gets clear status codes; nothing crashes and other requests keep flowing."""

from __future__ import annotations

import asyncio
from typing import Any

from yarl import URL

from .conftest import Api


async def raw_request(api: Api, data: bytes) -> bytes:
    """Send bytes as they are (no client-side normalisation) and return the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.engine.ports["HTTP_PORT"])
    writer.write(data)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    await writer.wait_closed()
    return status_line


async def test_bad_requests(start_api: Any) -> None:
    api: Api = await start_api(body_limit=64 * 1024)
    seen: list[Any] = []
    worker = api.worker()
    api.route(worker, "api.items", lambda req: seen.append(req["body"]) or {"body": "ok"}, "items", "POST")
    api.route(worker, "api.secret", lambda _: {"body": "secret"}, "secret")
    api.route(worker, "api.file", lambda req: {"body": req["path_params"]}, "files/:name")
    await api.wait_status("/secret", 200)

    async with api.session.post(
        api.url + "/items", data=b"{not json", headers={"content-type": "application/json"}
    ) as reply:
        assert reply.status == 200
    assert seen == [None]

    async with api.session.post(api.url + "/items", data=b"x" * 100_000) as reply:
        assert reply.status == 413

    async def chunked(size: int) -> Any:
        for _ in range(size // 10_000):
            yield b"y" * 10_000

    async with api.session.post(
        api.url + "/items", data=chunked(200_000), headers={"content-type": "application/json"}
    ) as reply:
        assert reply.status == 413

    async with api.session.request("PROPFIND", api.url + "/items") as reply:
        assert reply.status == 405
    async with api.session.request("PURGE", api.url + "/nowhere") as reply:
        assert reply.status == 404
    async with api.session.request("FOO", api.url + "/items") as reply:
        assert reply.status == 400  # not an HTTP method the parser knows

    for traversal in (b"/files/../secret", b"/x/../secret", b"/./secret"):
        request = b"GET " + traversal + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert await raw_request(api, request) == b"HTTP/1.1 404 Not Found\r\n"
    assert b" 400 " in await raw_request(api, b"GARBAGE\r\n\r\n")
    async with api.session.get(URL(api.url + "/files/%2e%2e%2Fetc", encoded=True)) as reply:
        assert await reply.json() == {"name": "%2e%2e%2Fetc"}

    async with api.session.get(api.url + "/secret?%zz=%%&a") as reply:
        assert reply.status == 200
    api.engine.process.poll()
    assert api.engine.process.returncode is None
