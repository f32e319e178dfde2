"""One HTTP request served by a function: invocation, response channel, deadline, cleanup."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_request import BaseRequest
from iii_engine import Channel, InvocationError

from . import response
from .request import (
    PayloadTooLarge,
    is_json,
    parse_json_body,
    read_body,
    stream_body,
    trace_context,
    trigger_payload,
)
from .router import Route

if TYPE_CHECKING:
    from .rest_module import RestApiModule

FIRST_COMPLETED = asyncio.FIRST_COMPLETED


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    """Mark a discarded invocation's failure as seen (its result is dropped, per the spec)."""
    if not task.cancelled():
        task.exception()


class Exchange:
    """Serves one routed request: builds the request object with its two channels, runs the
    condition and the function, and answers from the result or the ``response`` channel."""

    __slots__ = (
        "api",
        "body_pump",
        "deadline",
        "headers",
        "request",
        "request_channel",
        "response_channel",
        "route",
        "segments",
    )

    def __init__(
        self,
        api: RestApiModule,
        request: BaseRequest,
        route: Route,
        segments: list[str],
        headers: dict[str, str],
        deadline: float,
    ) -> None:
        self.api = api
        self.request = request
        self.route = route
        self.segments = segments
        self.headers = headers
        self.deadline = deadline
        self.request_channel: Channel | None = None
        self.response_channel: Channel | None = None
        self.body_pump: asyncio.Task[None] | None = None

    async def run(self, reply_headers: dict[str, str]) -> web.StreamResponse:
        api = self.api
        body: Any = None
        json_body = is_json(self.headers)
        if json_body:
            body = parse_json_body(await read_body(self.request.content, api.body_limit))
        payload = trigger_payload(
            self.route, self.request.method, self.segments, self.request.query_string, self.headers, body
        )
        if self.route.condition_function_id is not None:
            outcome = await self._check_condition(payload, reply_headers)
            if outcome is not None:
                return outcome
        channels = api.engine.channels
        self.request_channel = request_channel = channels.create()
        self.response_channel = response_channel = channels.create()
        request_channel.attach("write")
        response_channel.attach("read")
        if not json_body and self.request.body_exists:
            self.body_pump = asyncio.ensure_future(
                stream_body(self.request.content, request_channel, api.body_limit)
            )
            self.body_pump.add_done_callback(_consume_outcome)
        else:
            request_channel.finish()
        payload["request_body"] = request_channel.ref("read")
        payload["response"] = response_channel.ref("write")
        try:
            return await self._respond(payload, reply_headers)
        finally:
            self._close()

    async def _check_condition(
        self, payload: dict[str, Any], reply_headers: dict[str, str]
    ) -> web.Response | None:
        """``None`` when the function may run, else the 422/500/504 answer."""
        engine = self.api.engine
        condition = engine.invoke(
            self.route.condition_function_id, dict(payload), source="http", **trace_context(self.headers)
        )
        try:
            async with asyncio.timeout_at(self.deadline):
                passed = await condition
        except TimeoutError:
            return response.empty(504, reply_headers)
        except InvocationError as exc:
            return self.api.failure(exc, self.route, reply_headers)
        if passed is False:
            return web.Response(
                status=422,
                body=response.CONDITION_NOT_MET,
                headers={**reply_headers, **response.JSON_HEADERS},
            )
        return None

    async def _respond(self, payload: dict[str, Any], reply_headers: dict[str, str]) -> web.StreamResponse:
        """Race the invocation against the response channel (channel items first)."""
        api = self.api
        channel = self.response_channel
        assert channel is not None
        loop = asyncio.get_running_loop()
        invocation = asyncio.ensure_future(
            api.engine.invoke(self.route.function_id, payload, source="http", **trace_context(self.headers))
        )
        invocation.add_done_callback(_consume_outcome)
        head = response.ResponseHead(dict(reply_headers))
        getter = asyncio.ensure_future(channel.get())
        waiting: set[asyncio.Future[Any]] = {invocation, getter}
        if self.body_pump is not None:
            waiting.add(self.body_pump)
        try:
            while True:
                done, _ = await asyncio.wait(
                    waiting, timeout=self.deadline - loop.time(), return_when=FIRST_COMPLETED
                )
                if not done:
                    return response.empty(504, reply_headers)
                if getter in done:
                    item = getter.result()
                    if item is None or isinstance(item, bytes):
                        return await self._stream(head, item)
                    head.apply(item)
                    waiting.discard(getter)
                    getter = asyncio.ensure_future(channel.get())
                    waiting.add(getter)
                    continue
                if self.body_pump in done:
                    waiting.discard(self.body_pump)
                    if isinstance(self.body_pump.exception(), PayloadTooLarge):
                        return response.too_large(reply_headers)
                if invocation in done:
                    waiting.discard(invocation)
                    error = invocation.exception()
                    if error is not None:
                        if not isinstance(error, InvocationError):
                            error = InvocationError("invocation_error", str(error))
                        return api.failure(error, self.route, reply_headers)
                    result = invocation.result()
                    if result is not None:
                        return response.from_result(result, reply_headers)
        finally:
            getter.cancel()

    async def _stream(self, head: response.ResponseHead, first: bytes | None) -> web.StreamResponse:
        """Commit status and headers, then copy the channel's binary items as the body."""
        reply = web.StreamResponse(status=head.status, headers=head.headers)
        channel = self.response_channel
        assert channel is not None
        try:
            await reply.prepare(self.request)
            item: str | bytes | None = first
            while item is not None:
                if isinstance(item, bytes):
                    await reply.write(item)
                item = await channel.get()
        except ConnectionError:
            pass  # the client went away; _close() tells the writer
        return reply

    def _close(self) -> None:
        """Release the channels: the worker's writer sees the reader gone, the registry forgets
        both (ends a worker attached stay open until their sockets close)."""
        if self.body_pump is not None and not self.body_pump.done():
            self.body_pump.cancel()
        channels = self.api.engine.channels
        for channel, end in ((self.request_channel, "write"), (self.response_channel, "read")):
            if channel is not None:
                channel.detach(end)
                channels.discard(channel)
