"""Stream fan-out: one ``stream::set`` delivered to 1,000 subscribed WebSocket clients.

Run: ``.venv/bin/python bench/stream_fanout.py [--subscribers 1000] [--updates 30]``.
Subscribers live in several client processes (so the engine process only serves); each
update carries the writer's wall-clock send time, and each client records when the frame
arrived in its socket (kernel timestamp) and when the process read it.
The baseline, measured in the same run, is the same update delivered to a single subscriber.
Target: p99 ≤ 50 ms for 1,000 subscribers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import selectors
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from state_support import Engine, RawWorker, machine_line, percentile, raise_fd_limit, write_section
from stream_client import STREAM_MODULE
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

CLIENT_PROCESSES = 4
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux


class Subscriber:
    """A blocking-socket subscriber that reads with ``recvmsg`` to get the kernel's arrival
    time of each frame (``SO_TIMESTAMPNS``), next to the time the process got to see it."""

    def __init__(self, port: int, index: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.ws = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"), max_size=None)
        self.ws.send_request(self.ws.connect())
        self._flush()
        self._next(Response)
        join = {"subscriptionId": f"s{index}", "streamName": "bench", "groupId": "fanout"}
        self.ws.send_text(json.dumps({"type": "join", "data": join}).encode())
        self._flush()
        self._next(Frame)  # the sync

    def _flush(self) -> None:
        for data in self.ws.data_to_send():
            self.sock.sendall(data)

    def _next(self, kind: type) -> None:
        while not any(isinstance(event, kind) for event in self.ws.events_received()):
            self.ws.receive_data(self.sock.recv(65536))

    def read(self) -> list[tuple[float, float]]:
        """Frames now readable → ``(arrived, seen)`` latencies in ms each."""
        data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
        seen = time.time()
        arrived = seen
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", value[:16])
                arrived = seconds + nanoseconds / 1e9
        self.ws.receive_data(data)
        latencies = []
        for event in self.ws.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                sent = json.loads(event.data)["event"]["data"]["sent"]
                latencies.append(((arrived - sent) * 1000, (seen - sent) * 1000))
        return latencies


def subscribers(port: int, count: int, updates: int) -> None:
    """Client process: ``count`` subscribers; prints ``ready``, then ``[[arrived, seen], …]``."""
    clients = [Subscriber(port, index) for index in range(count)]
    selector = selectors.DefaultSelector()
    for client in clients:
        selector.register(client.sock, selectors.EVENT_READ, client)
    print("ready", flush=True)
    latencies: list[tuple[float, float]] = []
    while len(latencies) < count * updates:
        for key, _ in selector.select():
            latencies += key.data.read()
    print(json.dumps(latencies), flush=True)
    for client in clients:
        client.sock.close()


async def write_updates(engine: Engine, updates: int) -> None:
    """``updates`` ``stream::set`` calls 100 ms apart, each carrying its send time."""
    writer = await RawWorker.open(engine.url)
    for index in range(updates):
        await asyncio.sleep(0.1)
        data = {"sent": time.time(), "n": index}
        item = {"stream_name": "bench", "group_id": "fanout", "item_id": "item", "data": data}
        await writer.invoke("stream::set", item)
    await writer.close()


def measure(engine: Engine, subscriber_count: int, updates: int) -> list[tuple[float, float]]:
    """``(arrived, seen)`` latencies (ms) of every delivery of ``updates`` updates."""
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
        latencies: list[tuple[float, float]] = []
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
        subscribers(*args.client)
        return
    engine = Engine(STREAM_MODULE)
    try:
        baseline = measure(engine, 1, args.updates)
        fanout = measure(engine, args.subscribers, args.updates)
    finally:
        engine.stop()
    rows = []
    for label, pairs in (("1 subscriber (baseline)", baseline), (f"{args.subscribers} subscribers", fanout)):
        for column, name in (
            (0, "arrived in the subscriber's socket"),
            (1, "seen by the subscriber process"),
        ):
            samples = [pair[column] for pair in pairs]
            p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
            rows.append(f"| {label} | {name} | {len(samples)} | {p50:.1f} | {p99:.1f} | {max(samples):.1f} |")
    arrived_p99 = percentile([pair[0] for pair in fanout], 0.99)
    ratio = arrived_p99 / percentile([pair[0] for pair in baseline], 0.99)
    verdict = "met" if arrived_p99 <= 50 else "NOT met"
    seen_p99 = percentile([pair[1] for pair in fanout], 0.99)
    write_section(
        "stream-fanout",
        "\n".join(
            [
                f"## Stream fan-out: one update to {args.subscribers} subscribers",
                "",
                machine_line()
                + f" {args.updates} `stream::set` calls 100 ms apart through the worker protocol;"
                f" subscribers in {CLIENT_PROCESSES} client processes on the same machine. Latency from the"
                " writer's send: *arrived* = kernel receive timestamp of the frame (`SO_TIMESTAMPNS`), i.e."
                " the engine's delivery; *seen* = when the subscriber process got to read it (adds the"
                " client processes' own scheduling on the shared cores).",
                "",
                "| subscribers | measured when | deliveries | p50 ms | p99 ms | max ms |",
                "|---|---|---|---|---|---|",
                *rows,
                "",
                f"Delivery (arrival) p99 with {args.subscribers} subscribers is {ratio:.1f}x the"
                f" single-subscriber p99; target p99 ≤ 50 ms on delivery: **{verdict}**; as seen by the"
                f" client processes (their own scheduling included) p99 is {seen_p99:.0f} ms.",
            ]
        ),
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
