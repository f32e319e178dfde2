"""One HTTP request served by a function: invocation, response channel, deadline, cleanup."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_request import BaseRequest
from iii_engine import Channel, Invocation, InvocationError

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


class Wakeup:
    """A done-callback for several futures that wakes one waiter (lighter than asyncio.wait)."""

    __slots__ = ("_future", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._future: asyncio.Future[None] = loop.create_future()

    def __call__(self, _: object = None) -> None:
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> None:
        """Return once called since the previous wait (at once if it already was)."""
        await self._future
        self._future = self._loop.create_future()


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
        "loop",
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
        assert api.loop is not None
        self.loop = api.loop

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
            self.body_pump = self.loop.create_task(
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
        """Race the invocation against the response channel (channel items first).

        The channel is only read once the worker attached its write end: most functions just
        return ``{status_code, body}`` and never touch it.
        """
        api = self.api
        channel = self.response_channel
        assert channel is not None
        loop = self.loop
        wakeup = Wakeup(loop)
        channel.on_attach = wakeup
        invocation: asyncio.Future[Any] | None = api.engine.start_invocation(
            Invocation(self.route.function_id, payload, source="http", **trace_context(self.headers))
        )
        invocation.add_done_callback(_consume_outcome)
        invocation.add_done_callback(wakeup)
        getter: asyncio.Future[str | bytes | None] | None = None
        pump = self.body_pump
        if pump is not None:
            pump.add_done_callback(wakeup)
        timer = loop.call_at(self.deadline, wakeup)
        head: response.ResponseHead | None = None
        try:
            while True:
                if getter is None and channel.attached["write"]:
                    getter = self._next_item(wakeup)
                if getter is not None and getter.done():
                    item = getter.result()
                    head = head or response.ResponseHead(dict(reply_headers))
                    if item is None or isinstance(item, bytes):
                        return await self._stream(head, item)
                    head.apply(item)
                    getter = self._next_item(wakeup)
                elif pump is not None and pump.done():
                    if not pump.cancelled() and isinstance(pump.exception(), PayloadTooLarge):
                        return response.too_large(reply_headers)
                    pump = None
                elif invocation is not None and invocation.done():
                    error = invocation.exception()
                    if error is not None:
                        if not isinstance(error, InvocationError):
                            error = InvocationError("invocation_error", str(error))
                        return api.failure(error, self.route, reply_headers)
                    result = invocation.result()
                    if result is not None:
                        return response.from_result(result, reply_headers)
                    invocation = None  # no result: the response comes from the channel
                elif loop.time() >= self.deadline:
                    return response.empty(504, reply_headers)
                else:
                    await wakeup.wait()
        finally:
            channel.on_attach = None
            timer.cancel()
            if getter is not None:
                getter.cancel()

    def _next_item(self, wakeup: Wakeup) -> asyncio.Future[str | bytes | None]:
        """Start reading the response channel's next item; ``wakeup`` fires when it is there."""
        assert self.response_channel is not None
        getter = self.loop.create_task(self.response_channel.get())
        getter.add_done_callback(wakeup)
        return getter

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
