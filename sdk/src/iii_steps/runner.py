"""Serving steps: one function per trigger of each step, the triggers bound to them, and a run loop."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .client import ReconnectPolicy, Worker
from .context import Context, TriggerInfo
from .http import ApiRequest, to_http_response
from .loader import LoadResult, load_steps
from .logger import Logger
from .steps import Step, TriggerSpec

log = logging.getLogger("iii_steps.runner")

Invoker = Callable[[Any], Awaitable[Any]]


async def _call(function: Callable[..., Any], *args: Any) -> Any:
    """Await an async step function; run a sync one in a thread."""
    if inspect.iscoroutinefunction(function):
        return await function(*args)
    result = await asyncio.to_thread(function, *args)
    return await result if inspect.isawaitable(result) else result


class StepsApp:
    """Registers steps on a worker (call before or after :meth:`Worker.start`)."""

    def __init__(self, worker: Worker, steps: list[Step]) -> None:
        self.worker = worker
        self.steps = steps

    def register(self) -> None:
        for step in self.steps:
            for trigger in step.triggers:
                self._register_trigger(step, trigger)

    def function_ids(self) -> list[str]:
        return [step.function_id(trigger) for step in self.steps for trigger in step.triggers]

    def _register_trigger(self, step: Step, trigger: TriggerSpec) -> None:
        function_id = step.function_id(trigger)
        info = TriggerInfo(
            type=trigger.type,
            index=trigger.index,
            method=trigger.config.get("http_method"),
            path=trigger.config.get("api_path"),
            topic=trigger.config.get("topic"),
        )
        logger = Logger(self.worker, step.name)
        self.worker.register_function(
            function_id,
            self._handler(step, info, logger),
            description=step.description,
            metadata=step.metadata,
        )
        config = dict(trigger.config)
        if trigger.condition is not None:
            condition_id = f"{function_id}::conditions::{trigger.index}"
            self.worker.register_function(condition_id, self._condition(step, trigger, info, logger))
            config["condition_function_id"] = condition_id
        self.worker.register_trigger(trigger.type, function_id, config)

    def _context(self, step: Step, info: TriggerInfo, logger: Logger) -> Context:
        return Context(self.worker, step.name, info, logger)

    def _handler(self, step: Step, info: TriggerInfo, logger: Logger) -> Invoker:
        handler = step.handler
        if info.type == "http":

            async def http_handler(payload: Any) -> Any:
                request = ApiRequest.from_payload(payload)
                result = await _call(handler, request, self._context(step, info, logger))
                return to_http_response(result, request)

            return http_handler

        async def event_handler(payload: Any) -> Any:
            return await _call(handler, payload, self._context(step, info, logger))

        return event_handler

    def _condition(self, step: Step, trigger: TriggerSpec, info: TriggerInfo, logger: Logger) -> Invoker:
        condition = trigger.condition
        assert condition is not None
        http = info.type == "http"

        async def condition_handler(payload: Any) -> bool:
            subject = ApiRequest.from_payload(payload) if http else payload
            return bool(await _call(condition, subject, self._context(step, info, logger)))

        return condition_handler


def report(result: LoadResult, folder: Path) -> None:
    """Log what was loaded and, clearly, each file that was not."""
    for error in result.errors:
        log.error("step %s — skipped: %s", error.path, error.reason)
        if error.detail:
            log.debug("%s", error.detail)
    for step in result.steps:
        for trigger in step.triggers:
            log.info("step %s: %s → %s", step.name, trigger.type, step.function_id(trigger))
    log.info("%d step(s) loaded from %s, %d skipped", len(result.steps), folder, len(result.errors))


async def run_steps(
    folder: Path,
    engine_url: str,
    *,
    name: str | None = None,
    reconnect: ReconnectPolicy | None = None,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """Load the steps under ``folder``, serve them on ``engine_url`` until ``stop`` or SIGINT/SIGTERM."""
    result = load_steps(folder)
    report(result, folder)
    worker = Worker(engine_url, name=name or f"iii-steps:{folder.name}:{os.getpid()}", reconnect=reconnect)
    StepsApp(worker, result.steps).register()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await worker.start(wait=False)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await worker.stop()
    return result
