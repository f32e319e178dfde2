"""``modules::worker::WorkerModule``: the always-loaded discovery functions and trigger types."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .hookspecs import hookimpl
from .input import Input, deserialization_error
from .invocation import Invocation
from .module import Module
from .triggers import Trigger
from .worker import WorkerConnection

FUNCTIONS_POLL_INTERVAL_S = 5.0
FUNCTIONS_AVAILABLE = "engine::functions-available"
WORKERS_AVAILABLE = "engine::workers-available"


class WorkerModule(Module):
    """``engine::functions::list``, ``engine::workers::list``, ``engine::triggers::list``,
    ``engine::workers::register``, ``engine::channels::create``; the ``engine::functions-available``
    (5 s polling) and ``engine::workers-available`` trigger types."""

    logger_name = "iii::modules::worker"

    # trigger owner: the engine stores the triggers; events are fanned out by fire_all
    async def register_trigger(self, trigger: Trigger) -> None:
        return None

    async def unregister_trigger(self, trigger: Trigger) -> None:
        return None

    @hookimpl
    def iii_module_register(self) -> None:
        register = self.engine.register_function
        register(
            "engine::channels::create", self.create_channel, description="Create a streaming channel pair"
        )
        register("engine::functions::list", self.list_functions, description="List all functions")
        register("engine::workers::list", self.list_workers, description="List all workers with metrics")
        register("engine::triggers::list", self.list_triggers, description="List all triggers")
        register("engine::workers::register", self.register_worker, description="Register worker metadata")
        self.engine.register_trigger_type(
            FUNCTIONS_AVAILABLE, "Fires when the set of functions changes", self
        )
        self.engine.register_trigger_type(
            WORKERS_AVAILABLE, "Fires when workers connect, disconnect or update", self
        )

    @hookimpl
    def iii_module_start(self) -> None:
        self.engine.spawn(self._watch_functions(), name="functions-watcher")

    async def _watch_functions(self) -> None:
        seen = self.engine.functions.version
        known = {f.id for f in self.engine.functions.all()}
        while True:
            await asyncio.sleep(FUNCTIONS_POLL_INTERVAL_S)
            if self.engine.functions.version == seen:
                continue
            seen = self.engine.functions.version
            functions = self.engine.functions.all()
            ids = {f.id for f in functions}
            if ids == known:
                continue
            known = ids
            payload = {"event": "functions_changed", "functions": [f.describe() for f in functions]}
            self.engine.fire_all(FUNCTIONS_AVAILABLE, payload)

    # -- worker events --------------------------------------------------------------------------

    def _worker_event(self, event: str, worker: WorkerConnection) -> None:
        self.engine.fire_all(WORKERS_AVAILABLE, {"event": event, "worker_id": worker.id})

    @hookimpl
    def iii_worker_connected(self, worker: WorkerConnection) -> None:
        self._worker_event("worker_connected", worker)

    @hookimpl
    def iii_worker_updated(self, worker: WorkerConnection) -> None:
        self._worker_event("worker_metadata_updated", worker)

    @hookimpl
    def iii_worker_disconnected(self, worker: WorkerConnection) -> None:
        self._worker_event("worker_disconnected", worker)

    # -- functions ------------------------------------------------------------------------------

    async def create_channel(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        buffer_size = data.optional("buffer_size", int)
        if buffer_size is not None and buffer_size < 0:
            raise deserialization_error(
                invocation.function_id, f"invalid value: integer `{buffer_size}`, expected u64"
            )
        channel = self.engine.channels.create(buffer_size)
        return {"writer": channel.ref("write"), "reader": channel.ref("read")}

    async def list_functions(self, invocation: Invocation) -> dict[str, Any]:
        include_internal = Input(invocation.function_id, invocation.data).optional(
            "include_internal", bool, False
        )
        return {
            "functions": [
                f.describe()
                for f in self.engine.functions.all()
                if include_internal or not f.id.startswith("engine::")
            ]
        }

    async def list_workers(self, invocation: Invocation) -> dict[str, Any]:
        worker_id = Input(invocation.function_id, invocation.data).optional("worker_id", str)
        workers = [
            w.describe() for w in self.engine.workers.values() if worker_id is None or w.id == worker_id
        ]
        return {"workers": workers, "timestamp": int(time.time() * 1000)}

    async def list_triggers(self, invocation: Invocation) -> dict[str, Any]:
        include_internal = Input(invocation.function_id, invocation.data).optional(
            "include_internal", bool, False
        )
        return {
            "triggers": [
                t.describe()
                for t in self.engine.triggers.triggers.values()
                if include_internal or not t.function_id.startswith("engine::")
            ]
        }

    async def register_worker(self, invocation: Invocation) -> dict[str, Any]:
        data = Input(invocation.function_id, invocation.data)
        worker_id = data.required("_caller_worker_id", str)
        worker = self.engine.workers.get(worker_id)
        if worker is None:
            self.log.error("metadata for an unknown worker ignored", worker_id=worker_id)
        else:
            worker.update_metadata(data.data)
            self.engine.worker_updated(worker)
        return {"success": True}
