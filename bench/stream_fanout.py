"""Stream fan-out: one ``stream::set`` delivered to 1,000 subscribed WebSocket clients.

Run: ``.venv/bin/python bench/stream_fanout.py [--subscribers 1000] [--updates 30]``.
Subscribers live in several client processes (so the engine process only serves); each
update carries the writer's wall-clock send time, and each client records send → receipt.
The baseline, measured in the same run, is the same update delivered to a single subscriber.
Target: p99 ≤ 50 ms for 1,000 subscribers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from state_support import Engine, RawWorker, machine_line, percentile, raise_fd_limit, write_section
from stream_client import STREAM_MODULE, open_clients

CLIENT_PROCESSES = 4


async def subscribers(port: int, count: int, updates: int) -> None:
    """Client process: ``count`` subscribers; prints ``ready``, then the latencies (ms) as JSON."""
    latencies: list[float] = []
    done = asyncio.get_running_loop().create_future()

    def received(frame: bytes) -> None:
        latencies.append((time.time() - json.loads(frame)["event"]["data"]["sent"]) * 1000)
        if len(latencies) == count * updates and not done.done():
            done.set_result(None)

    clients = await open_clients(port, count, "fanout", received)
    print("ready", flush=True)
    await done
    print(json.dumps(latencies), flush=True)
    for client in clients:
        client.close()


async def write_updates(engine: Engine, updates: int) -> None:
    """``updates`` ``stream::set`` calls 100 ms apart, each carrying its send time."""
    writer = await RawWorker.open(engine.url)
    for index in range(updates):
        await asyncio.sleep(0.1)
        data = {"sent": time.time(), "n": index}
        item = {"stream_name": "bench", "group_id": "fanout", "item_id": "item", "data": data}
        await writer.invoke("stream::set", item)
    await writer.close()


def measure(engine: Engine, subscriber_count: int, updates: int) -> list[float]:
    """Latencies (ms) of every delivery of ``updates`` updates to ``subscriber_count`` clients."""
    processes = max(1, min(CLIENT_PROCESSES, subscriber_count))
    shares = [subscriber_count // processes + (i < subscriber_count % processes) for i in range(processes)]
    clients = [
        subprocess.Popen(
            [sys.executable, __file__, "--client", str(engine.stream_port), str(share), str(updates)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for share in shares
    ]
    try:
        for client in clients:
            assert client.stdout is not None and client.stdout.readline().strip() == "ready"
        asyncio.run(write_updates(engine, updates))
        latencies: list[float] = []
        for client in clients:
            assert client.stdout is not None
            latencies += json.loads(client.stdout.readline())
        return latencies
    finally:
        for client in clients:
            client.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument(
        "--client", nargs=3, type=int, metavar=("PORT", "COUNT", "UPDATES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    raise_fd_limit()
    if args.client:
        asyncio.run(subscribers(*args.client))
        return
    engine = Engine(STREAM_MODULE)
    try:
        baseline = measure(engine, 1, args.updates)
        fanout = measure(engine, args.subscribers, args.updates)
    finally:
        engine.stop()
    rows = []
    for label, samples in (
        ("1 subscriber (baseline)", baseline),
        (f"{args.subscribers} subscribers", fanout),
    ):
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        rows.append(f"| {label} | {len(samples)} | {p50:.1f} | {p99:.1f} | {max(samples):.1f} |")
    ratio = percentile(fanout, 0.99) / percentile(baseline, 0.99)
    verdict = "met" if percentile(fanout, 0.99) <= 50 else "NOT met"
    write_section(
        "stream-fanout",
        "\n".join(
            [
                f"## Stream fan-out: one update to {args.subscribers} subscribers",
                "",
                machine_line()
                + f" {args.updates} `stream::set` calls 100 ms apart through the worker protocol;"
                f" subscribers in {CLIENT_PROCESSES} client processes on the same machine;"
                " latency = writer send → client receipt.",
                "",
                "| subscribers | deliveries | p50 ms | p99 ms | max ms |",
                "|---|---|---|---|---|",
                *rows,
                "",
                f"p99 with {args.subscribers} subscribers is {ratio:.1f}x the single-subscriber p99;"
                f" target p99 ≤ 50 ms: **{verdict}**.",
            ]
        ),
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
