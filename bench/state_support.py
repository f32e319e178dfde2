"""Shared pieces of the state and stream benchmarks (on top of ``harness.py``): engine
processes with a raised open-file limit, a raw worker-protocol client, percentiles and the
results file (one section per benchmark)."""

from __future__ import annotations

import asyncio
import itertools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from harness import BIN, free_port, stop, wait_port
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "state-stream.md"


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (``ulimit -n``); return it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Engine:
    """An ``iii`` process on free ports, in a temporary directory; stop it by PID."""

    def __init__(self, modules_yaml: str) -> None:
        self.port, self.stream_port = free_port(), free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="iii-bench-"))
        text = modules_yaml.replace("{STREAM_PORT}", str(self.stream_port))
        (self.workdir / "config.yaml").write_text(f"port: {self.port}\nmodules:\n{text}")
        self.process = subprocess.Popen(
            [str(BIN / "iii"), "-c", "config.yaml"],
            cwd=self.workdir,
            stdout=(self.workdir / "engine.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=raise_fd_limit,
        )
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            raise RuntimeError((self.workdir / "engine.log").read_text()) from None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        stop(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


class RawWorker:
    """The worker protocol without an SDK: ``invokefunction`` frames, answers by id."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self._ids = itertools.count()
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> RawWorker:
        return cls(await connect(url, max_size=None, compression=None))

    async def _read(self) -> None:
        async for frame in self.websocket:
            message = orjson.loads(frame)
            future = self._pending.pop(message.get("invocation_id"), None)
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(RuntimeError(message["error"]))
                else:
                    future.set_result(message.get("result"))

    async def invoke(self, function_id: str, data: Any) -> Any:
        invocation_id = str(next(self._ids))
        future = asyncio.get_running_loop().create_future()
        self._pending[invocation_id] = future
        await self.websocket.send(
            orjson.dumps(
                {
                    "type": "invokefunction",
                    "invocation_id": invocation_id,
                    "function_id": function_id,
                    "data": data,
                }
            ).decode()
        )
        return await future

    async def close(self) -> None:
        self._reader.cancel()
        await self.websocket.close()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def write_section(name: str, body: str) -> None:
    """Replace (or append) the ``name`` section of the results file."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# State and stream benchmarks\n\n"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    if begin in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end + "\n")
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(body)


def machine_line() -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    python = sys.version.split()[0]
    return f"Machine: {os.cpu_count()} cores (shared; load average {load}), Python {python}, {when}."
