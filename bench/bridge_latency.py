"""`state::get` through a bridged engine beside the same call on the remote engine directly.

Two engines on loopback: A holds the state (in-memory KvStore); B's StateModule uses the
Bridge adapter pointed at A. One raw-WebSocket worker times sequential `state::get` calls on
each, in the same run. Writes bench/results/bridge.md.

    .venv/bin/python bench/bridge_latency.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from pathlib import Path

import orjson
import websockets
from harness import Latency, engine, free_port, write_results

BACKEND = "port: {port}\nmodules:\n  - class: modules::state::StateModule\n"
BRIDGED = """port: {port}
modules:
  - class: modules::state::StateModule
    config:
      adapter: {{class: modules::state::adapters::Bridge, config: {{bridge_url: "ws://127.0.0.1:{remote}"}}}}
"""


async def time_gets(port: int, calls: int, label: str) -> Latency:
    ids = itertools.count()
    async with websockets.connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
        await ws.recv()  # workerregistered

        async def get() -> None:
            invocation_id = f"00000000-0000-4000-8000-{next(ids):012d}"
            message = {
                "type": "invokefunction",
                "invocation_id": invocation_id,
                "function_id": "state::get",
                "data": {"scope": "bench", "key": "k"},
            }
            await ws.send(orjson.dumps(message), text=True)
            while orjson.loads(await ws.recv()).get("invocation_id") != invocation_id:
                pass

        set_message = {
            "type": "invokefunction",
            "function_id": "state::set",
            "action": {"type": "void"},
            "data": {"scope": "bench", "key": "k", "value": {"n": 1}},
        }
        await ws.send(orjson.dumps(set_message), text=True)
        for _ in range(200):  # warm-up
            await get()
        samples = []
        started = time.perf_counter()
        for _ in range(calls):
            begin = time.perf_counter()
            await get()
            samples.append(time.perf_counter() - begin)
        return Latency.of(label, samples, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    remote, bridged = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            engine(BACKEND.format(port=remote), workdir, remote),
            engine(BRIDGED.format(port=bridged, remote=remote), workdir, bridged),
        ):
            time.sleep(0.5)  # the bridge adapter connects to A
            direct = asyncio.run(time_gets(remote, args.calls, "direct: worker → A"))
            through = asyncio.run(time_gets(bridged, args.calls, "bridged: worker → B → A"))
    ratio_p50 = through.p50_ms / direct.p50_ms
    ratio_p99 = through.p99_ms / direct.p99_ms
    lines = [
        "# Bridge: `state::get` through a bridged engine",
        "",
        f"{args.calls} sequential calls each, one raw-WebSocket worker, same run (bench/bridge_latency.py).",
        "",
        "| path | p50 ms | p99 ms | calls/s |",
        "|---|---|---|---|",
        *(f"| {r.label} | {r.p50_ms:.3f} | {r.p99_ms:.3f} | {r.per_second:.0f} |" for r in (direct, through)),
        "",
        f"Bridged / direct: p50 x{ratio_p50:.2f}, p99 x{ratio_p99:.2f} (target: at most 2x the direct call).",
        f"Added latency: p50 {through.p50_ms - direct.p50_ms:.3f} ms, "
        f"p99 {through.p99_ms - direct.p99_ms:.3f} ms.",
        "",
    ]
    print("\n".join(lines))
    write_results("bridge.md", "\n".join(lines))


if __name__ == "__main__":
    main()
