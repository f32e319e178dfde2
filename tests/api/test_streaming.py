"""Request and response bodies streamed through the data channels."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

from iii import http
from iii.types import HttpRequest, HttpResponse

from .conftest import Api

UPLOAD = os.urandom(300_000)


async def test_streamed_upload_and_download(api: Api) -> None:
    worker = api.worker()

    @http
    async def echo(request: HttpRequest, response: HttpResponse) -> None:
        data = await request.request_body.read_all()
        await response.status(201)
        await response.headers(
            {"content-type": "application/octet-stream", "x-sha": hashlib.sha256(data).hexdigest()}
        )
        await response.writer.write(data[::-1])
        await response.writer.close_async()

    api.route(worker, "api.echo", echo, "echo", "POST")
    await api.wait_status("/echo", 201, "POST")

    async def chunks() -> Any:
        for offset in range(0, len(UPLOAD), 50_000):
            yield UPLOAD[offset : offset + 50_000]
            await asyncio.sleep(0)

    async with api.session.post(
        api.url + "/echo", data=chunks(), headers={"content-type": "application/octet-stream"}
    ) as reply:
        assert reply.status == 201
        assert reply.headers["content-type"] == "application/octet-stream"
        assert reply.headers["x-sha"] == hashlib.sha256(UPLOAD).hexdigest()
        assert await reply.read() == UPLOAD[::-1]


async def test_server_sent_events_keep_their_content_type_and_arrive_incrementally(api: Api) -> None:
    worker = api.worker()

    @http
    async def events(_: HttpRequest, response: HttpResponse) -> None:
        await response.headers(
            {"content-type": "text/event-stream", "cache-control": "no-cache", "connection": "keep-alive"}
        )
        for index in range(3):
            await response.writer.write(f"id: {index}\ndata: tick\n\n".encode())
            await asyncio.sleep(0.3)
        await response.writer.close_async()

    api.route(worker, "api.events", events, "events")
    await api.wait_status("/events", 200)
    async with api.session.get(api.url + "/events") as reply:
        assert reply.headers["content-type"] == "text/event-stream"
        first = await reply.content.readuntil(b"\n\n")
        assert first == b"id: 0\ndata: tick\n\n"
        rest = await reply.read()
        assert rest.count(b"data: tick") == 2


async def test_status_only_response_and_text_items_after_the_body_are_ignored(api: Api) -> None:
    worker = api.worker()

    @http
    async def no_content(_: HttpRequest, response: HttpResponse) -> None:
        await response.status(204)
        await response.status(999)  # out of range: ignored
        await response.writer.close_async()

    @http
    async def late_status(_: HttpRequest, response: HttpResponse) -> None:
        await response.writer.write(b"body first")
        await response.status(500)
        await response.writer.close_async()

    api.route(worker, "api.nocontent", no_content, "nocontent", "DELETE")
    api.route(worker, "api.late", late_status, "late")
    await api.wait_status("/late", 200)
    async with api.session.delete(api.url + "/nocontent") as reply:
        assert reply.status == 204
    async with api.session.get(api.url + "/late") as reply:
        assert (reply.status, await reply.read()) == (200, b"body first")


async def test_json_request_body_channel_is_ended_immediately(api: Api) -> None:
    worker = api.worker()

    @http
    async def handler(request: HttpRequest, response: HttpResponse) -> dict[str, Any]:
        raw = await request.request_body.read_all()
        return {"status_code": 200, "body": {"raw": len(raw), "parsed": request.body}}

    api.route(worker, "api.json", handler, "json", "POST")
    await api.wait_status("/json", 200, "POST")
    async with api.session.post(api.url + "/json", json={"k": [1, 2]}) as reply:
        assert await reply.json() == {"raw": 0, "parsed": {"k": [1, 2]}}
