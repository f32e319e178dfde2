"""``state::set`` / ``state::get``: in-process call (baseline) vs through the worker protocol.

Run: ``.venv/bin/python bench/state_ops.py [--ops N]``. Rows: the module's function called
in-process through ``Engine.invoke`` (no network), one raw worker connection issuing one call at
a time (latency), the same connection with 64 calls in flight (throughput), and the iii-sdk
Python worker one call at a time. Memory and Redis adapters.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from iii import InitOptions, register_worker
from iii_engine import Engine as KernelEngine
from iii_engine.config import ConfigView, Location, parse_config
from iii_state.module import StateModule
from state_support import Engine, RawWorker, machine_line, percentile, write_section

REDIS = "redis://127.0.0.1:6379/1"
ADAPTERS = {
    "memory": "      adapter: {class: 'modules::state::adapters::KvStore'}\n",
    "redis": "      adapter: {class: 'modules::state::adapters::RedisAdapter',"
    f" config: {{redis_url: '{REDIS}', key_prefix: 'bench:'}}}}\n",
}
WINDOW = 64


def payloads(index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    key = f"k{index % 1000}"
    return {"scope": "bench", "key": key, "value": {"n": index, "name": "item"}}, {
        "scope": "bench",
        "key": key,
    }


async def timed(
    calls: int, call: Callable[[str, dict[str, Any]], Awaitable[Any]], function: str
) -> tuple[float, float]:
    """Sequential calls → (ops/s, p50 µs)."""
    samples = []
    started = time.perf_counter()
    for index in range(calls):
        data = payloads(index)[0 if function == "state::set" else 1]
        before = time.perf_counter()
        await call(function, data)
        samples.append(time.perf_counter() - before)
    return calls / (time.perf_counter() - started), percentile(samples, 0.5) * 1e6


async def pipelined(calls: int, worker: RawWorker, function: str) -> float:
    """``WINDOW`` calls in flight on one connection → ops/s."""
    index = iter(range(calls))

    async def lane() -> None:
        for i in index:
            await worker.invoke(function, payloads(i)[0 if function == "state::set" else 1])

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(WINDOW)))
    return calls / (time.perf_counter() - started)


async def in_process(calls: int, adapter: str) -> dict[str, tuple[float, float]]:
    config = parse_config(
        f"modules:\n  - class: modules::state::StateModule\n    config:\n{ADAPTERS[adapter]}", "<bench>"
    )
    engine = KernelEngine(config)
    module = StateModule(engine, config.modules[0].config or ConfigView(None, Location("<bench>")))
    await module.iii_module_init()
    module.iii_module_register()
    try:
        return {f: await timed(calls, engine.invoke, f) for f in ("state::set", "state::get")}
    finally:
        await module.iii_module_stop()


async def over_protocol(calls: int, engine: Engine) -> dict[str, Any]:
    worker = await RawWorker.open(engine.url)
    try:
        await worker.invoke("state::set", payloads(0)[0])
        rows = {}
        for function in ("state::set", "state::get"):
            rows[function] = (
                *await timed(calls, worker.invoke, function),
                await pipelined(calls * 2, worker, function),
            )
        return rows
    finally:
        await worker.close()


def sdk_worker(calls: int, engine: Engine) -> dict[str, tuple[float, float]]:
    client = register_worker(engine.url, InitOptions(otel={"enabled": False}, enable_metrics_reporting=False))
    try:

        async def call(function: str, data: dict[str, Any]) -> Any:
            return client.trigger({"function_id": function, "payload": data})

        return {f: asyncio.run(timed(calls, call, f)) for f in ("state::set", "state::get")}
    finally:
        client.shutdown()


def row(adapter: str, path: str, s: tuple[float, ...], g: tuple[float, ...], base_p50: float) -> str:
    """A table row: ops/s and p50 of set and get, and get's p50 against the in-process call."""
    ratio = g[1] / base_p50
    return f"| {adapter} | {path} | {s[0]:,.0f} | {s[1]:.0f} | {g[0]:,.0f} | {g[1]:.0f} | {ratio:.1f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=3000, help="calls per measurement")
    calls = parser.parse_args().ops
    lines = [
        "## state::set / state::get: in-process vs through a worker",
        "",
        machine_line() + f" {calls} sequential calls per row; pipelined rows keep {WINDOW} calls in flight.",
        "",
        "| adapter | path | set ops/s | set p50 µs | get ops/s | get p50 µs | vs in-process (get p50) |",
        "|---|---|---|---|---|---|---|",
    ]
    for adapter in ADAPTERS:
        base = asyncio.run(in_process(calls, adapter))
        engine = Engine(f"  - class: modules::state::StateModule\n    config:\n{ADAPTERS[adapter]}")
        try:
            raw = asyncio.run(over_protocol(calls, engine))
            sdk = sdk_worker(calls // 3, engine)
        finally:
            engine.stop()
        base_p50 = base["state::get"][1]

        lines.append(
            row(adapter, "in-process `Engine.invoke`", base["state::set"], base["state::get"], base_p50)
        )
        lines.append(
            row(
                adapter, "worker protocol, sequential", raw["state::set"][:2], raw["state::get"][:2], base_p50
            )
        )
        lines.append(
            f"| {adapter} | worker protocol, {WINDOW} in flight | {raw['state::set'][2]:,.0f} | - "
            f"| {raw['state::get'][2]:,.0f} | - | - |"
        )
        lines.append(
            row(adapter, "iii-sdk Python worker, sequential", sdk["state::set"], sdk["state::get"], base_p50)
        )
    cleanup = redis.Redis.from_url(REDIS)
    stale = list(cleanup.scan_iter(match="bench:*"))
    if stale:
        cleanup.delete(*stale)
    write_section("state-ops", "\n".join(lines))


if __name__ == "__main__":
    main()
