"""iii-steps vs iii-sdk 0.9.0 (Python), side by side on one engine, interleaved.

    .venv/bin/python bench/sdk_bench.py [--rounds 5]

Both SDKs' handler workers run at once, each in its own process (bench/sdk_workers.py), so the
two are measured under the same machine load:

1. Invocation round trip: a caller worker of each SDK invokes its own ``bench::<sdk>::echo``.
   Latency: sequential calls in alternating blocks of 100. Throughput: bursts of a fixed number of
   calls with 64 in flight, alternating SDKs, ``--rounds`` each.
2. HTTP → step: ``POST /bench/<sdk>/echo`` through the engine's RestApiModule. Latency: sequential
   requests alternating between the two routes. Throughput: bursts from 32 keep-alive clients,
   alternating SDKs.

Also recorded: each handler process's CPU time per invocation it served. iii-sdk runs with
OpenTelemetry disabled (its fastest setting). Figures go to bench/results/sdk.md. Loopback only,
bounded loops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["OTEL_ENABLED"] = "false"

from tests.conftest import EngineProcess, free_port, start_engine  # noqa: E402

ENGINE_CONFIG = """\
port: {ENGINE_PORT}
modules:
  - class: modules::api::RestApiModule
    config: {host: 127.0.0.1, port: {HTTP_PORT}}
"""
SDKS = ("ours", "iii")
LATENCY_BLOCKS = 20
LATENCY_BLOCK_CALLS = 100
BURST_CALLS = 5000
CONCURRENCY = 64
HTTP_BURST = 3000
HTTP_CONCURRENCY = 32
WARMUP = 300
PAYLOAD = {"order_id": "o-1", "items": [{"sku": "A-1", "qty": 2}], "note": "x" * 64}

Call = Callable[[], Awaitable[Any]]


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _timed(call: Call, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _burst(call: Call, total: int, concurrency: int) -> float:
    remaining = total

    async def lane() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


class Callers:
    """One caller worker per SDK. iii-sdk's work runs on its own loop thread, as in its handlers."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> Callers:
        from iii import InitOptions, register_worker
        from iii_steps import Worker

        self.ours = Worker(self.url, name="bench-caller")
        await self.ours.start()
        self.iii = await asyncio.to_thread(
            register_worker, self.url, InitOptions(worker_name="bench-caller", otel={"enabled": False})
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ours.stop()
        await asyncio.to_thread(self.iii.shutdown)

    def call(self, sdk: str) -> Call:
        if sdk == "ours":
            return lambda: self.ours.invoke("bench::ours::echo", PAYLOAD)
        request = {"function_id": "bench::iii::echo", "payload": PAYLOAD}
        return lambda: self.iii._async_trigger(request)

    async def run(self, sdk: str, work: Awaitable[Any]) -> Any:
        """Run ``work`` on the loop that owns ``sdk``'s caller."""
        if sdk == "ours":
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.iii._loop))  # type: ignore[arg-type]

    def sync_p50(self) -> float:
        """iii-sdk's public synchronous ``trigger()`` from an application thread."""
        request = {"function_id": "bench::iii::echo", "payload": PAYLOAD}
        samples = []
        for _ in range(LATENCY_BLOCK_CALLS * 5):
            started = time.perf_counter()
            self.iii.trigger(request)
            samples.append(time.perf_counter() - started)
        return _percentile(samples, 0.5)


def _start_handler(engine: EngineProcess, sdk: str) -> subprocess.Popen[str]:
    handler = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "sdk_workers.py"), sdk, engine.ws_url],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert handler.stdout is not None and handler.stdout.readline().strip() == "ready"
    return handler


async def _wait_route(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        async with http.post(url, json={}) as response:
            if response.status == 200:
                return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} never came up")


async def bench_invocations(callers: Callers, rounds: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[float]] = {sdk: [] for sdk in SDKS}
    rates: dict[str, list[float]] = {sdk: [] for sdk in SDKS}
    for sdk in SDKS:
        await callers.run(sdk, _burst(callers.call(sdk), WARMUP, 8))
    for block in range(LATENCY_BLOCKS):
        for sdk in SDKS if block % 2 == 0 else SDKS[::-1]:
            samples[sdk] += await callers.run(sdk, _timed(callers.call(sdk), LATENCY_BLOCK_CALLS))
    for round_number in range(rounds):
        for sdk in SDKS if round_number % 2 == 0 else SDKS[::-1]:
            rates[sdk].append(await callers.run(sdk, _burst(callers.call(sdk), BURST_CALLS, CONCURRENCY)))
    return {
        sdk: {
            "p50_ms": _percentile(samples[sdk], 0.5) * 1e3,
            "p99_ms": _percentile(samples[sdk], 0.99) * 1e3,
            "calls_s": statistics.median(rates[sdk]),
        }
        for sdk in SDKS
    }


async def bench_http(base: str, rounds: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[float]] = {sdk: [] for sdk in SDKS}
    rates: dict[str, list[float]] = {sdk: [] for sdk in SDKS}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=HTTP_CONCURRENCY)) as http:

        def call(sdk: str) -> Call:
            async def post() -> None:
                async with http.post(f"{base}/bench/{sdk}/echo", json=PAYLOAD) as response:
                    assert response.status == 200, response.status
                    await response.read()

            return post

        for sdk in SDKS:
            await _wait_route(http, f"{base}/bench/{sdk}/echo")
            await _burst(call(sdk), WARMUP, HTTP_CONCURRENCY)
        for index in range(LATENCY_BLOCKS * LATENCY_BLOCK_CALLS):
            for sdk in SDKS if index % 2 == 0 else SDKS[::-1]:
                samples[sdk] += await _timed(call(sdk), 1)
        for round_number in range(rounds):
            for sdk in SDKS if round_number % 2 == 0 else SDKS[::-1]:
                rates[sdk].append(await _burst(call(sdk), HTTP_BURST, HTTP_CONCURRENCY))
    return {
        sdk: {
            "http_p50_ms": _percentile(samples[sdk], 0.5) * 1e3,
            "http_req_s": statistics.median(rates[sdk]),
        }
        for sdk in SDKS
    }


def _report(figures: dict[str, dict[str, float]], rounds: int, sync_p50: float) -> str:
    ours, iii = figures["ours"], figures["iii"]
    rows = [
        ("Invocation round trip p50 (ms)", "p50_ms", "lower"),
        ("Invocation round trip p99 (ms)", "p99_ms", "lower"),
        (f"Invocation throughput, {CONCURRENCY} in flight (calls/s)", "calls_s", "higher"),
        ("HTTP → step p50 (ms)", "http_p50_ms", "lower"),
        (f"HTTP → step throughput, {HTTP_CONCURRENCY} clients (req/s)", "http_req_s", "higher"),
        ("Handler process CPU per invocation (µs)", "cpu_us_call", "lower"),
        ("Handler process CPU per HTTP request (µs)", "cpu_us_req", "lower"),
    ]
    lines = [
        "# iii-steps vs iii-sdk 0.9.0 (Python)",
        "",
        f"`bench/sdk_bench.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. One engine (this repo's"
        f" `iii`: kernel + RestApiModule), loopback, {os.cpu_count()} cores shared with other work (load"
        f" average {os.getloadavg()[0]:.1f} at the end). Both"
        " SDKs' handler workers run at once, each in its own process; callers and the HTTP load generator"
        " run in the bench process. Latencies: sequential calls interleaved between the SDKs"
        f" ({LATENCY_BLOCKS * LATENCY_BLOCK_CALLS} each). Rates: medians of {rounds} alternating bursts"
        f" ({BURST_CALLS} calls / {HTTP_BURST} requests). iii-sdk with OpenTelemetry disabled.",
        "",
        "| Measure | iii-steps | iii-sdk 0.9.0 | ours / theirs |",
        "|---|---|---|---|",
    ]
    for label, key, better in rows:
        ratio = ours[key] / iii[key]
        verdict = "better" if (ratio < 1) == (better == "lower") else "worse"
        lines.append(f"| {label} | {ours[key]:.3f} | {iii[key]:.3f} | {ratio:.2f} ({verdict}) |")
    lines += [
        "",
        "iii-sdk's invocation figures use its in-loop `_async_trigger` (what an async handler awaits), the"
        f" faster path; through its public synchronous `trigger()` from an application thread the p50 is"
        f" {sync_p50 * 1e3:.3f} ms. Payload: {len(str(PAYLOAD))} bytes of JSON. CPU rows: a handler"
        " process's user+system time over the invocations (requests) it served — the steadiest figure on a"
        " shared machine.",
        "",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        ports = {"ENGINE_PORT": free_port(), "HTTP_PORT": free_port()}
        engine = start_engine(
            ENGINE_CONFIG, Path(workdir), ports=ports, wait_ports=("ENGINE_PORT", "HTTP_PORT")
        )
        handlers = {sdk: await asyncio.to_thread(_start_handler, engine, sdk) for sdk in SDKS}
        try:
            async with Callers(engine.ws_url) as callers:
                cpu = {sdk: _cpu_seconds(h.pid) for sdk, h in handlers.items()}
                figures = await bench_invocations(callers, args.rounds)
                calls = WARMUP + LATENCY_BLOCKS * LATENCY_BLOCK_CALLS + args.rounds * BURST_CALLS
                for sdk, handler in handlers.items():
                    spent = _cpu_seconds(handler.pid) - cpu[sdk]
                    figures[sdk]["cpu_us_call"] = spent / calls * 1e6
                sync_p50 = await asyncio.to_thread(callers.sync_p50)
            cpu = {sdk: _cpu_seconds(h.pid) for sdk, h in handlers.items()}
            base = f"http://127.0.0.1:{engine.ports['HTTP_PORT']}"
            for sdk, http_figures in (await bench_http(base, args.rounds)).items():
                figures[sdk].update(http_figures)
            requests = WARMUP + LATENCY_BLOCKS * LATENCY_BLOCK_CALLS + args.rounds * HTTP_BURST
            for sdk, handler in handlers.items():
                figures[sdk]["cpu_us_req"] = (_cpu_seconds(handler.pid) - cpu[sdk]) / requests * 1e6
        finally:
            for handler in handlers.values():
                handler.terminate()
                await asyncio.to_thread(handler.wait, 15)
            engine.stop()
    for sdk in SDKS:
        print(f"{sdk}: " + ", ".join(f"{k}={v:.3f}" for k, v in figures[sdk].items()))
    report = _report(figures, args.rounds, sync_p50)
    print(report)
    (ROOT / "bench" / "results" / "sdk.md").write_text(report)


if __name__ == "__main__":
    asyncio.run(main())
