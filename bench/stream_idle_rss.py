"""Engine memory per idle stream client: RSS growth for 10,000 connected, subscribed clients.

Run: ``.venv/bin/python bench/stream_idle_rss.py [--clients 10000]``. Raises the open-file
limit (``ulimit -n``) of the engine and of the client processes to their hard limit. The
baseline, measured in the same run, is the engine's RSS after start-up and a warm-up of a few
hundred clients that connected and left. Target: ≤ 30 KB per idle client.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from state_support import Engine, machine_line, raise_fd_limit, write_section
from stream_client import STREAM_MODULE, open_clients

CLIENT_PROCESSES = 4


async def hold_clients(port: int, count: int, offset: int) -> None:
    """Client process: open ``count`` subscribers, print ``ready``, hold them until stdin closes."""
    clients = await open_clients(port, count, f"p{offset}", lambda frame: None, groups=25)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for client in clients:
        client.close()


def spawn_clients(engine: Engine, total: int) -> list[subprocess.Popen]:
    share = total // CLIENT_PROCESSES
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--hold", str(engine.stream_port), str(share), str(index)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(CLIENT_PROCESSES)
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return processes


def release(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
    for process in processes:
        process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument(
        "--hold", nargs=3, type=int, metavar=("PORT", "COUNT", "OFFSET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    limit = raise_fd_limit()
    if args.hold:
        asyncio.run(hold_clients(*args.hold))
        return
    engine = Engine(STREAM_MODULE)
    try:
        release(spawn_clients(engine, 400))  # warm-up: allocator and caches
        time.sleep(1.0)
        baseline = engine.rss_kib()
        processes = spawn_clients(engine, args.clients)
        time.sleep(1.0)
        loaded = engine.rss_kib()
        release(processes)
    finally:
        engine.stop()
    per_client = (loaded - baseline) * 1024 / args.clients
    verdict = "met" if per_client <= 30 * 1024 else "NOT met"
    write_section(
        "stream-idle-rss",
        "\n".join(
            [
                f"## Engine RSS per idle stream client ({args.clients:,} clients)",
                "",
                machine_line()
                + f" Open-file limit {limit}; each client joined one group (100 groups), then idled;"
                f" {CLIENT_PROCESSES} client processes.",
                "",
                "| engine state | RSS |",
                "|---|---|",
                f"| baseline: started, after a 400-client warm-up | {baseline / 1024:.1f} MiB |",
                f"| {args.clients:,} idle subscribed clients | {loaded / 1024:.1f} MiB |",
                "",
                f"Growth per client: **{per_client / 1024:.1f} KiB**"
                f" ({loaded / baseline:.1f}x the baseline RSS in total); target ≤ 30 KB: **{verdict}**.",
            ]
        ),
    )


if __name__ == "__main__":
    main()
