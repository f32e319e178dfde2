"""`state::get` through a bridged engine beside the same call on the remote engine directly.

Two engines on loopback: A holds the state (in-memory KvStore); B's StateModule uses the
Bridge adapter pointed at A. Raw-WebSocket workers time sequential `state::get` calls on each,
in batches that alternate between the two paths, so drifting machine load hits both alike.
Writes bench/results/bridge.md.

    .venv/bin/python bench/bridge_latency.py [--calls 3000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
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


class StateClient:
    """A raw-WebSocket worker that times sequential ``state::get`` calls on one engine."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count()
        self.samples: list[float] = []
        self.elapsed = 0.0

    @classmethod
    async def open(cls, port: int) -> StateClient:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/", compression=None)
        await ws.recv()  # workerregistered
        set_message = {
            "type": "invokefunction",
            "function_id": "state::set",
            "action": {"type": "void"},
            "data": {"scope": "bench", "key": "k", "value": {"n": 1}},
        }
        await ws.send(orjson.dumps(set_message), text=True)
        client = cls(ws)
        await client.timed(200)  # warm-up
        client.samples.clear()
        client.elapsed = 0.0
        return client

    async def get(self) -> None:
        invocation_id = f"00000000-0000-4000-8000-{next(self.ids):012d}"
        message = {
            "type": "invokefunction",
            "invocation_id": invocation_id,
            "function_id": "state::get",
            "data": {"scope": "bench", "key": "k"},
        }
        await self.ws.send(orjson.dumps(message), text=True)
        while orjson.loads(await self.ws.recv()).get("invocation_id") != invocation_id:
            pass

    async def timed(self, calls: int) -> float:
        """Time ``calls`` sequential gets (kept in ``samples``); return this batch's p50 (s)."""
        batch = []
        started = time.perf_counter()
        for _ in range(calls):
            begin = time.perf_counter()
            await self.get()
            batch.append(time.perf_counter() - begin)
        self.elapsed += time.perf_counter() - started
        self.samples += batch
        return statistics.median(batch)


async def alternate(remote: int, bridged: int, calls: int, rounds: int) -> tuple[Latency, Latency, float]:
    """Direct and bridged batches in turn, ``rounds`` times: both pooled, and the median over
    rounds of the bridged batch's p50 ÷ the direct batch's p50 just before it."""
    direct, through = await StateClient.open(remote), await StateClient.open(bridged)
    ratios = []
    try:
        for _ in range(rounds):
            direct_p50 = await direct.timed(calls // rounds)
            ratios.append(await through.timed(calls // rounds) / direct_p50)
    finally:
        await direct.ws.close()
        await through.ws.close()
    return (
        Latency.of("direct: worker → A", direct.samples, direct.elapsed),
        Latency.of("bridged: worker → B → A", through.samples, through.elapsed),
        statistics.median(ratios),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per path")
    parser.add_argument("--rounds", type=int, default=10, help="alternating batches per path")
    args = parser.parse_args()
    remote, bridged = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            engine(BACKEND.format(port=remote), workdir, remote),
            engine(BRIDGED.format(port=bridged, remote=remote), workdir, bridged),
        ):
            time.sleep(0.5)  # the bridge adapter connects to A
            direct, through, paired_p50 = asyncio.run(alternate(remote, bridged, args.calls, args.rounds))
    ratio_p99 = through.p99_ms / direct.p99_ms
    lines = [
        "# Bridge: `state::get` through a bridged engine",
        "",
        f"{args.calls} sequential calls per path from one raw-WebSocket worker each, in {args.rounds}",
        "batches that alternate between the paths (bench/bridge_latency.py). p50 ratio: the median",
        "over rounds of the bridged batch's p50 ÷ the direct batch's p50 just before it; p99: pooled.",
        "",
        "| path | p50 ms | p99 ms | calls/s |",
        "|---|---|---|---|",
        *(f"| {r.label} | {r.p50_ms:.3f} | {r.p99_ms:.3f} | {r.per_second:.0f} |" for r in (direct, through)),
        "",
        f"Bridged / direct: p50 x{paired_p50:.2f}, p99 x{ratio_p99:.2f}"
        " (target: at most 2x the direct call).",
        f"Added latency: p50 {through.p50_ms - direct.p50_ms:.3f} ms, "
        f"p99 {through.p99_ms - direct.p99_ms:.3f} ms.",
        "",
    ]
    print("\n".join(lines))
    write_results("bridge.md", "\n".join(lines))


if __name__ == "__main__":
    main()
