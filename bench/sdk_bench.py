"""iii-steps vs iii-sdk 0.9.0 (Python), measured in the same run on the same engine.

    .venv/bin/python bench/sdk_bench.py [--rounds 3]

1. Invocation round trip: a caller worker invokes ``bench::echo`` served by a handler worker of
   the same SDK (handler in its own process). Sequential calls give p50/p99 latency; a fixed
   number of calls with 64 in flight gives throughput.
2. HTTP → step: ``POST /bench/echo`` through the engine's RestApiModule to the handler worker,
   32 concurrent keep-alive clients, fixed request count.

Rounds alternate the SDKs; the medians over rounds are written to bench/results/sdk.md. iii-sdk
runs with OpenTelemetry disabled (its fastest setting). Loopback only, bounded loops.
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
SEQUENTIAL_CALLS = 1000
CONCURRENT_CALLS = 6000
CONCURRENCY = 64
HTTP_REQUESTS = 3000
HTTP_CONCURRENCY = 32
PAYLOAD = {"order_id": "o-1", "items": [{"sku": "A-1", "qty": 2}], "note": "x" * 64}


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _sequential(call: Callable[[], Awaitable[Any]]) -> list[float]:
    samples = []
    for _ in range(SEQUENTIAL_CALLS):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _throughput(call: Callable[[], Awaitable[Any]], total: int, concurrency: int) -> float:
    remaining = total

    async def lane() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def bench_ours_rtt(url: str) -> dict[str, float]:
    from iii_steps import Worker

    worker = Worker(url, name="bench-caller")
    await worker.start()
    try:

        async def call() -> Any:
            return await worker.invoke("bench::echo", PAYLOAD)

        await _throughput(call, 300, 8)  # warm-up
        samples = await _sequential(call)
        rate = await _throughput(call, CONCURRENT_CALLS, CONCURRENCY)
    finally:
        await worker.stop()
    return {
        "p50_ms": _percentile(samples, 0.5) * 1e3,
        "p99_ms": _percentile(samples, 0.99) * 1e3,
        "calls_s": rate,
        "calls": 300 + SEQUENTIAL_CALLS + CONCURRENT_CALLS,
    }


def bench_iii_rtt(url: str) -> dict[str, float]:
    from iii import InitOptions, register_worker

    iii = register_worker(url, InitOptions(worker_name="bench-caller", otel={"enabled": False}))
    try:
        request = {"function_id": "bench::echo", "payload": PAYLOAD}

        def sync_samples() -> list[float]:  # the public API: trigger() from an application thread
            samples = []
            for _ in range(SEQUENTIAL_CALLS):
                started = time.perf_counter()
                iii.trigger(request)
                samples.append(time.perf_counter() - started)
            return samples

        async def in_loop() -> tuple[list[float], float]:  # what an async handler would do
            async def call() -> Any:
                return await iii._async_trigger(request)

            await _throughput(call, 300, 8)
            samples = await _sequential(call)
            return samples, await _throughput(call, CONCURRENT_CALLS, CONCURRENCY)

        samples, rate = asyncio.run_coroutine_threadsafe(in_loop(), iii._loop).result()
        public = sync_samples()
    finally:
        iii.shutdown()
    return {
        "p50_ms": _percentile(samples, 0.5) * 1e3,
        "p99_ms": _percentile(samples, 0.99) * 1e3,
        "calls_s": rate,
        "sync_p50_ms": _percentile(public, 0.5) * 1e3,
        "calls": 300 + 2 * SEQUENTIAL_CALLS + CONCURRENT_CALLS,
    }


async def bench_http(base: str) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=HTTP_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def call() -> None:
            async with http.post(f"{base}/bench/echo", json=PAYLOAD) as response:
                assert response.status == 200, response.status
                await response.read()

        await _throughput(call, 300, HTTP_CONCURRENCY)
        samples = await _sequential(call)
        rate = await _throughput(call, HTTP_REQUESTS, HTTP_CONCURRENCY)
    return {"http_p50_ms": _percentile(samples, 0.5) * 1e3, "http_req_s": rate}


async def _wait_route(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            async with http.post(f"{base}/bench/echo", json={}) as response:
                if response.status == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError("the bench route never came up")


def _start_handler(engine: EngineProcess, sdk: str) -> subprocess.Popen[str]:
    handler = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "sdk_workers.py"), sdk, engine.ws_url],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert handler.stdout is not None and handler.stdout.readline().strip() == "ready"
    return handler


async def run_round(engine: EngineProcess, sdk: str) -> dict[str, float]:
    handler = await asyncio.to_thread(_start_handler, engine, sdk)
    try:
        base = f"http://127.0.0.1:{engine.ports['HTTP_PORT']}"
        await _wait_route(base)
        cpu_before = _cpu_seconds(handler.pid)
        if sdk == "ours":
            figures = await bench_ours_rtt(engine.ws_url)
        else:
            figures = await asyncio.to_thread(bench_iii_rtt, engine.ws_url)
        cpu_after = _cpu_seconds(handler.pid)
        figures["cpu_us_call"] = (cpu_after - cpu_before) / figures.pop("calls") * 1e6
        figures.update(await bench_http(base))
        http_requests = 300 + SEQUENTIAL_CALLS + HTTP_REQUESTS
        figures["cpu_us_req"] = (_cpu_seconds(handler.pid) - cpu_after) / http_requests * 1e6
        return figures
    finally:
        handler.terminate()
        await asyncio.to_thread(handler.wait, 15)


def _report(results: dict[str, list[dict[str, float]]], rounds: int) -> str:
    median = {
        sdk: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for sdk, runs in results.items()
    }
    ours, iii = median["ours"], median["iii"]
    rows = [
        ("Invocation round trip p50 (ms)", "p50_ms", "lower"),
        ("Invocation round trip p99 (ms)", "p99_ms", "lower"),
        ("Invocation throughput, 64 in flight (calls/s)", "calls_s", "higher"),
        ("HTTP → step p50 (ms)", "http_p50_ms", "lower"),
        ("HTTP → step throughput, 32 clients (req/s)", "http_req_s", "higher"),
        ("Handler process CPU per invocation (µs)", "cpu_us_call", "lower"),
        ("Handler process CPU per HTTP request (µs)", "cpu_us_req", "lower"),
    ]
    lines = [
        "# iii-steps vs iii-sdk 0.9.0 (Python)",
        "",
        f"`bench/sdk_bench.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
        f" {rounds} alternating rounds, medians. Engine: this repo's `iii` (kernel + RestApiModule),"
        f" loopback, {os.cpu_count()} cores shared with other work. Handler worker in its own process,"
        " caller and load generator in the bench process. iii-sdk with OpenTelemetry disabled.",
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
        f"iii-sdk through its public synchronous `trigger()` (application thread → its loop thread):"
        f" p50 {iii['sync_p50_ms']:.3f} ms. The table uses its in-loop `_async_trigger`, the faster path.",
        "",
        f"Sequential calls per round: {SEQUENTIAL_CALLS}; concurrent: {CONCURRENT_CALLS} calls with"
        f" {CONCURRENCY} in flight; HTTP: {HTTP_REQUESTS} requests from {HTTP_CONCURRENCY} clients."
        f" Payload: {len(str(PAYLOAD))} bytes of JSON. CPU rows: the handler process's user+system time"
        " divided by the invocations (requests) it served — steadier than rates on a shared machine.",
        "",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        ports = {"ENGINE_PORT": free_port(), "HTTP_PORT": free_port()}
        engine = start_engine(
            ENGINE_CONFIG, Path(workdir), ports=ports, wait_ports=("ENGINE_PORT", "HTTP_PORT")
        )
        results: dict[str, list[dict[str, float]]] = {"ours": [], "iii": []}
        try:
            for round_number in range(args.rounds):
                for sdk in ("ours", "iii") if round_number % 2 == 0 else ("iii", "ours"):
                    figures = await run_round(engine, sdk)
                    results[sdk].append(figures)
                    print(
                        f"round {round_number + 1} {sdk}: "
                        + ", ".join(f"{k}={v:.3f}" for k, v in figures.items())
                    )
        finally:
            engine.stop()
    report = _report(results, args.rounds)
    print(report)
    (ROOT / "bench" / "results" / "sdk.md").write_text(report)


if __name__ == "__main__":
    asyncio.run(main())
