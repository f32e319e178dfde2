"""HTTP → engine → worker → response, beside a bare aiohttp JSON handler measured in the same run.

Run from the repository root: ``.venv/bin/python bench/http_bench.py [--duration 5]``. Needs ``wrk``
(``apt-get install -y wrk``). Everything listens on 127.0.0.1 on free ports; every process the
script starts is stopped by its PID. Figures go to stdout and ``bench/results/api.md``.

Targets (issue 3): engine path ≥ 35 % of bare aiohttp's req/s at 64 connections; 1,000 routes
within 10 % of 1 route; no 40 ms latency floor at 8+ concurrent requests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT, free_port, stop, write_results
from harness import engine as harness_engine

RESULTS_NAME = "api.md"
PYTHON = sys.executable
TARGET_PATH = "bench/hello"
ANSWER = {"status_code": 200, "body": {"hello": "world"}}

ENGINE_CONFIG = """port: {engine_port}
modules:
  - class: modules::api::RestApiModule
    config:
      host: 127.0.0.1
      port: {http_port}
"""
QUIET_LOGS = """  - class: modules::observability::OtelModule
    config:
      enabled: false
      level: warn
"""


# -- the processes under test -------------------------------------------------------------------


def run_bare(port: int, loop_name: str) -> None:
    """The baseline: one aiohttp route answering the same JSON, on the engine's event loop."""
    from aiohttp import web

    async def hello(_: web.Request) -> web.Response:
        return web.json_response(ANSWER["body"])

    app = web.Application()
    app.router.add_get("/" + TARGET_PATH, hello)
    if loop_name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)


def event_loop_of(proc: subprocess.Popen[bytes]) -> str:
    """``uvloop`` when that process has uvloop loaded, else ``asyncio``."""
    return "uvloop" if "uvloop" in Path(f"/proc/{proc.pid}/maps").read_text() else "asyncio"


def extra_routes(count: int) -> list[str]:
    """``count`` routes besides the target, mixing static and parameter segments."""
    return [f"bench/r{i}/items/:id" if i % 2 else f"bench/r{i}/list" for i in range(count)]


def run_raw_worker(url: str, route_count: int) -> None:
    """A minimal worker of our own: raw websockets + orjson, no SDK."""
    import orjson
    import websockets

    async def main() -> None:
        async with websockets.connect(url, compression=None, max_size=None) as ws:
            await ws.send(orjson.dumps({"type": "registerfunction", "id": "bench.hello"}).decode())
            for index, path in enumerate([TARGET_PATH, *extra_routes(route_count - 1)]):
                trigger = {
                    "type": "registertrigger",
                    "id": f"t{index}",
                    "trigger_type": "http",
                    "function_id": "bench.hello",
                    "config": {"api_path": path, "http_method": "GET"},
                }
                await ws.send(orjson.dumps(trigger).decode())
            async for frame in ws:
                message = orjson.loads(frame)
                if message.get("type") == "invokefunction" and message.get("invocation_id"):
                    reply = {
                        "type": "invocationresult",
                        "invocation_id": message["invocation_id"],
                        "function_id": message["function_id"],
                        "result": ANSWER,
                    }
                    await ws.send(orjson.dumps(reply).decode())

    asyncio.run(main())


def run_sdk_worker(url: str, route_count: int) -> None:
    """The published iii-sdk Python worker."""
    from iii import InitOptions, register_worker

    worker = register_worker(url, InitOptions(otel={"enabled": False}))

    async def hello(_: dict) -> dict:
        return ANSWER

    worker.register_function({"id": "bench.hello"}, hello)
    for path in [TARGET_PATH, *extra_routes(route_count - 1)]:
        worker.register_trigger(
            {"type": "http", "function_id": "bench.hello", "config": {"api_path": path, "http_method": "GET"}}
        )
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    worker.shutdown()


# -- orchestration ------------------------------------------------------------------------------


@contextmanager
def process(*args: str, log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run a helper process (its own session) until the block ends; stopped by its PID."""
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    try:
        yield proc
    finally:
        stop(proc)


def wait_ok(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} never answered 200")


@dataclass
class Target:
    """One server setup under load: its URL and the processes whose CPU time it costs."""

    label: str
    url: str
    server: subprocess.Popen
    worker: subprocess.Popen | None = None


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    server_us: float
    """CPU time of the server process (the engine, or bare aiohttp) per request, in µs."""
    worker_us: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def cpu_ticks(proc: subprocess.Popen | None) -> int:
    """User + system CPU ticks of a process (0 for none)."""
    if proc is None:
        return 0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wrk(target: Target, connections: int, duration: int) -> Sample:
    before = cpu_ticks(target.server), cpu_ticks(target.worker)
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", target.url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = cpu_ticks(target.server), cpu_ticks(target.worker)
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
        requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    except AttributeError:
        sys.exit(f"{target.label} c={connections}: unexpected wrk output\n{output}")
    if "Non-2xx" in output or "Socket errors" in output:
        print(f"warning: {target.label} c={connections}: {output}", file=sys.stderr)
    server_us, worker_us = ((a - b) * _TICK_US / max(requests, 1) for a, b in zip(after, before, strict=True))
    return Sample(rps, p50, p99, server_us, worker_us)


def start_engine(
    stack: ExitStack, workdir: Path, worker_kind: str, routes: int, quiet: bool = False
) -> Target:
    """An engine with the REST API and one worker serving GET /bench/hello (+ routes - 1 others);
    ``quiet`` sets the engine log level to warn, which drops the per-request log line."""
    engine_port, http_port = free_port(), free_port()
    name = f"{worker_kind}-{routes}{'-quiet' if quiet else ''}"
    config = ENGINE_CONFIG.format(engine_port=engine_port, http_port=http_port) + (
        QUIET_LOGS if quiet else ""
    )
    engine_log, worker_log = workdir / f"iii-{engine_port}.log", workdir / f"worker-{name}.log"
    engine = stack.enter_context(harness_engine(config, workdir, engine_port))
    worker = stack.enter_context(
        process(
            PYTHON,
            __file__,
            "--serve",
            f"{worker_kind}-worker",
            f"ws://127.0.0.1:{engine_port}",
            str(routes),
            log=worker_log,
        )
    )
    url = f"http://127.0.0.1:{http_port}/{TARGET_PATH}"
    label = f"engine + {worker_kind} worker, {routes} route{'s' if routes > 1 else ''}"
    label += ", log level warn" if quiet else ""
    try:
        wait_ok(url)
    except TimeoutError:
        sys.exit(f"{label}: no answer\n{engine_log.read_text()[-3000:]}\n{worker_log.read_text()}")
    return Target(label, url, engine, worker)


def start_bare(stack: ExitStack, loop_name: str) -> Target:
    port = free_port()
    url = f"http://127.0.0.1:{port}/{TARGET_PATH}"
    server = stack.enter_context(process(PYTHON, __file__, "--serve", "bare", str(port), loop_name))
    wait_ok(url)
    return Target(f"bare aiohttp JSON handler ({loop_name})", url, server)


Samples = dict[tuple[str, int], list[Sample]]
"""Every run of a setup at a connection count, in round order."""


def measure(targets: list[Target], connections: list[int], rounds: int, duration: int) -> Samples:
    """Run every setup at one connection count back to back, for each count, ``rounds`` times:
    runs compared with each other are seconds apart, so drifting background load hits them
    alike (see :func:`paired_ratio`)."""
    for target in targets:
        wrk(target, 8, 1)  # warm-up
    samples: Samples = {}
    for round_index in range(rounds):
        for connections_count in connections:
            for target in targets:
                sample = wrk(target, connections_count, duration)
                samples.setdefault((target.label, connections_count), []).append(sample)
                print(
                    f"round {round_index + 1}: {target.label:<34} c={connections_count:<3}"
                    f" {sample.rps:>7.0f} req/s"
                    f"  p50 {sample.p50_ms:6.2f} ms  p99 {sample.p99_ms:6.2f} ms"
                    f"  server {sample.server_us:5.0f} µs/req",
                    flush=True,
                )
    return samples


def medians_of(samples: Samples) -> dict[tuple[str, int], Sample]:
    return {
        key: Sample(*(statistics.median(getattr(s, f) for s in values) for f in Sample.__dataclass_fields__))
        for key, values in samples.items()
    }


def paired_ratio(samples: Samples, label: str, reference: str, connections: int) -> float:
    """The median over rounds of ``label``'s req/s ÷ ``reference``'s req/s in the same round."""
    pairs = zip(samples[(label, connections)], samples[(reference, connections)], strict=True)
    return statistics.median(run.rps / base.rps for run, base in pairs)


def router_lookup_ns(route_counts: tuple[int, ...] = (1, 1000), lookups: int = 100_000) -> list[float]:
    """In-process cost of looking up the target route among N routes, per N (best of 7
    interleaved runs, so background load hits every table alike)."""
    from iii_api.router import Route, RouteTable

    tables = []
    for count in route_counts:
        table = RouteTable()
        for index, path in enumerate([TARGET_PATH, *extra_routes(count - 1)]):
            table.add(Route.of("GET", path, "bench.hello", f"t{index}"))
        tables.append(table)
    best = [float("inf")] * len(tables)
    for _ in range(7):
        for position, table in enumerate(tables):
            started = time.perf_counter()
            for _ in range(lookups):
                table.match("GET", TARGET_PATH)
            best[position] = min(best[position], (time.perf_counter() - started) / lookups * 1e9)
    return best


def report(
    targets: list[Target],
    samples: Samples,
    connections: list[int],
    rounds: int,
    duration: int,
    load: float,
) -> str:
    bare = targets[0].label
    medians = medians_of(samples)
    lines = [
        "# REST API benchmark (bench/http_bench.py)",
        "",
        f"GET /{TARGET_PATH} on loopback with `wrk -t1 -cN -d{duration}s --latency`; at each connection",
        f"count every setup runs back to back, {rounds} rounds in one run, medians shown. Ratio = the",
        "median over rounds of req/s ÷ bare aiohttp's req/s in the same round; bare aiohttp runs on",
        'the event loop the engine runs on (named in its row). "server µs/req" is the CPU time the server',
        'process (engine or bare aiohttp) spent per request, "worker µs/req" the worker\'s: unlike req/s',
        "they do not depend on how busy the shared 2-core machine was (load average at start:",
        f"{load:.2f}).",
        "",
        "| setup | conns | req/s | p50 ms | p99 ms | ratio to bare | server µs/req | worker µs/req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for target in targets:
        for count in connections:
            m = medians[(target.label, count)]
            ratio = paired_ratio(samples, target.label, bare, count)
            worker = f"{m.worker_us:.0f}" if target.worker is not None else "-"
            lines.append(
                f"| {target.label} | {count} | {m.rps:.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | "
                f"{ratio:.0%} | {m.server_us:.0f} | {worker} |"
            )
    one, thousand = router_lookup_ns()

    def at(label: str, count: int) -> Sample:
        return medians[(label, count)]

    raw_one, raw_thousand, sdk, quiet = (t.label for t in targets[1:5])
    busiest = max(count for count in connections)
    p50_at_8 = max(at(t.label, 8).p50_ms for t in targets[1:])
    lines += [
        "",
        "## Against the targets",
        "",
        f"* req/s at {busiest} connections vs bare aiohttp (target ≥ 35 %): raw worker "
        f"{paired_ratio(samples, raw_one, bare, busiest):.0%}, iii-sdk worker "
        f"{paired_ratio(samples, sdk, bare, busiest):.0%}. CPU per request, engine vs bare: "
        f"{at(raw_one, busiest).server_us:.0f} vs {at(bare, busiest).server_us:.0f} µs. Without the "
        f"per-request log line (log level warn): {paired_ratio(samples, quiet, bare, busiest):.0%}, "
        f"{at(quiet, busiest).server_us:.0f} µs.",
        "* 1,000 routes vs 1 route (target within 10 %): req/s "
        f"{paired_ratio(samples, raw_thousand, raw_one, busiest):.0%}"
        f" at {busiest} connections, engine CPU per request {at(raw_thousand, busiest).server_us:.0f} vs "
        f"{at(raw_one, busiest).server_us:.0f} µs; route lookup alone (segment trie, in process, best of 7): "
        f"{one:.0f} ns with 1 route, {thousand:.0f} ns with 1,000 routes ({thousand / one:.2f}x).",
        f"* Latency floor (target: none at 40 ms with 8+ concurrent requests): the worst engine p50 at 8 "
        f"connections is {p50_at_8:.2f} ms (TCP_NODELAY is on for aiohttp, asyncio and websockets sockets).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=2, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved repetitions (medians reported)")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        kind, *rest = args.serve
        {
            "bare": lambda: run_bare(int(rest[0]), rest[1]),
            "raw-worker": lambda: run_raw_worker(rest[0], int(rest[1])),
            "sdk-worker": lambda: run_sdk_worker(rest[0], int(rest[1])),
        }[kind]()
        return
    connections = [1, 8, 64]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="iii-http-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        engines = [
            start_engine(stack, workdir, "raw", 1),
            start_engine(stack, workdir, "raw", 1000),
            start_engine(stack, workdir, "sdk", 1),
            start_engine(stack, workdir, "raw", 1, quiet=True),
        ]
        targets = [start_bare(stack, event_loop_of(engines[0].server)), *engines]
        samples = measure(targets, connections, args.rounds, args.duration)
    text = report(targets, samples, connections, args.rounds, args.duration, load)
    write_results(RESULTS_NAME, text)
    print("\n" + text)


if __name__ == "__main__":
    main()
