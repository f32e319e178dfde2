"""Handler processes for bench/sdk_bench.py: the same two functions served by either SDK.

    python bench/sdk_workers.py {ours|iii} ENGINE_URL

Serves ``bench::<sdk>::echo`` (returns its input) and the HTTP route ``POST /bench/<sdk>/echo``
(answers ``{"echo": <body>}``), so both SDKs can be served side by side. Ours serves the route as a
step; iii-sdk 0.9.0 registers the function and the ``http`` trigger itself. Runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any

STEP = """
config = {"type": "api", "name": "BenchEcho", "path": "/bench/ours/echo", "method": "POST"}

async def handler(req, ctx):
    return {"status": 200, "body": {"echo": req.body}}
"""


async def serve_ours(url: str) -> None:
    from iii_steps import StepsApp, Worker, load_steps

    worker = Worker(url, name="bench-ours")

    async def echo(data: Any) -> Any:
        return data

    worker.register_function("bench::ours::echo", echo)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "echo_step.py").write_text(textwrap.dedent(STEP))
        StepsApp(worker, load_steps(Path(folder)).steps).register()
    await worker.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await worker.stop()


def serve_iii(url: str) -> None:
    from iii import InitOptions, register_worker

    iii = register_worker(url, InitOptions(worker_name="bench-iii", otel={"enabled": False}))

    async def echo(data: Any) -> Any:
        return data

    async def http_echo(request: Any) -> Any:
        return {"status_code": 200, "body": {"echo": request.get("body")}}

    iii.register_function({"id": "bench::iii::echo"}, echo)
    iii.register_function({"id": "bench::iii::http_echo"}, http_echo)
    route = {"api_path": "bench/iii/echo", "http_method": "POST"}
    iii.register_trigger({"type": "http", "function_id": "bench::iii::http_echo", "config": route})
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    iii.shutdown()


if __name__ == "__main__":
    os.environ.setdefault("OTEL_ENABLED", "false")
    sdk, engine_url = sys.argv[1], sys.argv[2]
    if sdk == "ours":
        from iii_steps.cli import run_event_loop  # as `iii-steps run` does: uvloop when installed

        run_event_loop(serve_ours(engine_url))
    else:
        serve_iii(engine_url)
