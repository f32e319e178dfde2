"""Worker-to-worker invocation round trip through the engine, beside a bare websockets echo.

Three processes: the engine (kernel only), a bare ``websockets`` echo server (same library,
same settings), and this script, which runs the clients. A raw-websockets caller invokes
``bench::echo`` served by a raw-websockets callee through the engine; the same caller shape
sends the same JSON to the echo server. Both are measured in this run, sequentially and with
32 calls in flight; the iii-sdk Python client gives a second data point. Results go to
bench/results/kernel.md.

    .venv/bin/python bench/invoke_roundtrip.py [--calls N] [--profile FILE]

``--profile FILE`` runs the engine under cProfile and writes its stats to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import BIN, Latency, engine, free_port, stop, wait_port, write_results
from websockets.asyncio.client import ClientConnection, connect

IN_FLIGHT = 32
PAYLOAD = {
    "order_id": "ord-123",
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
    "total": 42.5,
}

ECHO_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)

async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1]), compression=None, max_size=64 * 1024 * 1024,
                     ping_interval=None):
        await asyncio.Future()

asyncio.run(main())
"""


class Caller:
    """One connection that correlates answers to requests by id (like an SDK client)."""

    def __init__(self, websocket: ClientConnection, id_field: str) -> None:
        self.websocket = websocket
        self.id_field = id_field
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.websocket:
            message = json.loads(frame)
            future = self.pending.pop(message.get(self.id_field), None)
            if future is not None:
                future.set_result(message)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        future = asyncio.get_running_loop().create_future()
        self.pending[message[self.id_field]] = future
        await self.websocket.send(json.dumps(message))
        return await future

    async def close(self) -> None:
        await self.websocket.close()
        self.reader.cancel()


async def serve_echo_function(websocket: ClientConnection) -> None:
    """A raw callee: answer every ``invokefunction`` with its data."""
    async for frame in websocket:
        message = json.loads(frame)
        if message.get("type") == "invokefunction":
            answer = {
                "type": "invocationresult",
                "invocation_id": message["invocation_id"],
                "function_id": message["function_id"],
                "result": message["data"],
            }
            await websocket.send(json.dumps(answer))


class Series:
    """Timed calls pooled over several rounds, plus the server process's CPU time."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.seconds: list[float] = []
        self.round_p50s: list[float] = []
        self.elapsed = 0.0
        self.server_cpu = 0.0

    def latency(self) -> Latency:
        return Latency.of(self.label, self.seconds, self.elapsed)

    @property
    def cpu_us_per_call(self) -> float:
        return self.server_cpu / len(self.seconds) * 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    series: Series, call: Callable[[], Awaitable[Any]], calls: int, in_flight: int, pid: int
) -> None:
    """Run ``calls`` calls in ``in_flight`` concurrent loops; add each call's time to ``series``."""
    seconds: list[float] = []

    async def loop(count: int) -> None:
        for _ in range(count):
            started = time.perf_counter()
            await call()
            seconds.append(time.perf_counter() - started)

    cpu_before, started = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(loop(calls // in_flight) for _ in range(in_flight)))
    series.elapsed += time.perf_counter() - started
    series.server_cpu += cpu_seconds(pid) - cpu_before
    series.seconds += seconds
    series.round_p50s.append(statistics.median(seconds))


class Target:
    """A server under test: how to open a client that makes one call."""

    def __init__(
        self,
        name: str,
        pid: int,
        open_client: Callable[
            [], Awaitable[tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[None]]]]
        ],
    ) -> None:
        self.name = name
        self.pid = pid
        self.open_client = open_client
        self.sequential = Series(f"{name}, sequential")
        self.parallel = Series(f"{name}, {IN_FLIGHT} in flight")

    async def round(self, calls: int) -> None:
        call, close = await self.open_client()
        try:
            for _ in range(100):  # warm-up
                await call()
            await measure(self.sequential, call, calls, 1, self.pid)
            await measure(self.parallel, call, calls * 2, IN_FLIGHT, self.pid)
        finally:
            await close()


async def echo_client(port: int) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[None]]]:
    caller = Caller(await connect(f"ws://127.0.0.1:{port}", compression=None, ping_interval=None), "id")

    async def call() -> Any:
        return await caller.request({"type": "echo", "id": str(uuid.uuid4()), "data": PAYLOAD})

    return call, caller.close


async def engine_client(port: int) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[None]]]:
    """A raw callee serving ``bench::echo`` and a raw caller invoking it."""
    url = f"ws://127.0.0.1:{port}"
    callee = await connect(url, compression=None, ping_interval=None)
    await callee.send(json.dumps({"type": "registerfunction", "id": "bench::echo"}))
    serving = asyncio.create_task(serve_echo_function(callee))
    caller = Caller(await connect(url, compression=None, ping_interval=None), "invocation_id")
    await asyncio.sleep(0.2)

    async def call() -> Any:
        message = {
            "type": "invokefunction",
            "invocation_id": str(uuid.uuid4()),
            "function_id": "bench::echo",
            "data": PAYLOAD,
        }
        answer = await caller.request(message)
        assert answer["result"]["order_id"] == PAYLOAD["order_id"], answer
        return answer

    async def close() -> None:
        await caller.close()
        await callee.close()
        serving.cancel()

    return call, close


def bench_sdk(port: int, calls: int) -> list[Latency]:
    """The published iii-sdk Python client on both ends (its own thread and loop per client)."""
    from concurrent.futures import ThreadPoolExecutor

    from iii import InitOptions, register_worker

    options = InitOptions(otel={"enabled": False}, enable_metrics_reporting=False)
    callee = register_worker(f"ws://127.0.0.1:{port}", options)
    caller = register_worker(f"ws://127.0.0.1:{port}", options)
    callee.register_function({"id": "bench::sdk_echo"}, _sdk_echo)
    time.sleep(0.3)

    def call() -> Any:
        return caller.trigger({"function_id": "bench::sdk_echo", "payload": PAYLOAD})

    def timed(count: int, threads: int) -> Latency:
        """``count`` calls spread over ``threads`` threads, each call timed."""
        seconds: list[float] = []

        def loop(_index: int) -> None:
            for _ in range(count // threads):
                started = time.perf_counter()
                call()
                seconds.append(time.perf_counter() - started)

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(loop, range(threads)))
        label = "sequential" if threads == 1 else f"{IN_FLIGHT} in flight"
        return Latency.of(
            f"engine worker→worker (iii-sdk Python), {label}", seconds, time.perf_counter() - started
        )

    try:
        for _ in range(100):
            call()
        return [timed(calls // 2, 1), timed(calls, IN_FLIGHT)]
    finally:
        caller.shutdown()
        callee.shutdown()


async def _sdk_echo(data: Any) -> Any:
    return data


@contextmanager
def echo_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(port)], start_new_session=True)
    try:
        wait_port(port)
        yield process
    finally:
        stop(process)


@contextmanager
def kernel_engine(workdir: Path, port: int, profile: Path | None) -> Iterator[subprocess.Popen[bytes]]:
    """The engine with only the kernel; under cProfile when ``profile`` is given."""
    config = f"port: {port}\nmodules: []\n"
    if profile is None:
        with engine(config, workdir, port) as process:
            yield process
        return
    path = workdir / "profiled.yaml"
    path.write_text(config)
    command = [
        str(BIN / "python"),
        "-m",
        "cProfile",
        "-o",
        str(profile),
        "-m",
        "iii_engine.cli",
        "-c",
        str(path),
    ]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port)
        yield process
    finally:
        stop(process)


def summary(figure: Latency) -> str:
    rate = f"{figure.per_second:9,.0f}/s"
    return f"{figure.label:62} p50 {figure.p50_ms:7.3f} ms  p99 {figure.p99_ms:7.3f} ms  {rate}"


def p50_ratio(kernel: Target, echo: Target, series: str) -> float:
    """The median over rounds of engine p50 / echo p50 (adjacent rounds: robust to load drift)."""
    pairs = zip(getattr(kernel, series).round_p50s, getattr(echo, series).round_p50s, strict=True)
    return statistics.median(k / e for k, e in pairs)


def report(targets: list[Target], sdk: list[Latency], rounds: int, calls: int) -> str:
    echo, kernel = targets
    rows = []
    for target in targets:
        for series in (target.sequential, target.parallel):
            figure = series.latency()
            rows.append(
                f"| {figure.label} | {figure.p50_ms:.3f} | {figure.p99_ms:.3f} | {figure.per_second:,.0f} "
                f"| {series.cpu_us_per_call:.0f} |"
            )
    rows += [f"| {f.label} | {f.p50_ms:.3f} | {f.p99_ms:.3f} | {f.per_second:,.0f} | |" for f in sdk]
    return "\n".join(
        [
            "# Kernel: worker-to-worker invocation round trip",
            "",
            f"`bench/invoke_roundtrip.py --rounds {rounds} --calls {calls}`, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python {platform.python_version()}, "
            f"{platform.machine()}, a shared 2-core machine with other work running beside it: compare the "
            "ratios, which come from rounds that alternate between the servers in the same run.",
            "",
            "The engine runs only the kernel (`modules: []`). A caller invokes "
            "`bench::echo`, served by a callee worker: the engine relays `invokefunction` and "
            "`invocationresult`, so each call crosses four WebSocket hops (and the bench process does the "
            "work of two clients). The bare echo is a `websockets` server (same library, same settings) "
            "that sends every message back: two hops. The same raw `websockets` client code drives "
            "both; the payload is a small order (~110 bytes of JSON). Latencies pool every round; "
            "*server CPU* is the server process's CPU time per call.",
            "",
            "| what | p50 ms | p99 ms | calls/s | server CPU µs/call |",
            "| --- | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            "The ratio is the median, over rounds, of the engine's p50 divided by the echo's p50 in "
            "the round just before it.",
            "",
            f"**p50 ratio engine / bare echo: {p50_ratio(kernel, echo, 'sequential'):.2f}x sequential, "
            f"{p50_ratio(kernel, echo, 'parallel'):.2f}x with {IN_FLIGHT} in flight** (target: at most 2x).",
            "",
        ]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--calls", type=int, default=1000, help="sequential calls per round (twice as many in flight)"
    )
    parser.add_argument("--profile", type=Path, help="write the engine's cProfile stats here")
    parser.add_argument("--no-sdk", action="store_true", help="skip the iii-sdk data point")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        echo_port, engine_port = free_port(), free_port()
        with (
            echo_server(echo_port) as echo,
            kernel_engine(Path(workdir), engine_port, args.profile) as kernel,
        ):
            targets = [
                Target("bare websockets echo", echo.pid, lambda: echo_client(echo_port)),
                Target(
                    "engine worker→worker (raw websockets)", kernel.pid, lambda: engine_client(engine_port)
                ),
            ]
            for _ in range(args.rounds):
                for target in targets:
                    await target.round(args.calls)
            sdk = [] if args.no_sdk else await asyncio.to_thread(bench_sdk, engine_port, args.calls)
    for target in targets:
        for series in (target.sequential, target.parallel):
            print(f"{summary(series.latency())}  server CPU {series.cpu_us_per_call:5.0f} µs/call")
    for figure in sdk:
        print(summary(figure))
    if args.profile is None:
        path = write_results("kernel.md", report(targets, sdk, args.rounds, args.calls))
        print(f"written to {path}")


if __name__ == "__main__":
    asyncio.run(main())
