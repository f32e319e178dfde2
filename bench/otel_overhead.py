"""Cost of the observability module: HTTP → engine → worker throughput with OtelModule on
(memory exporter, sampling 1.0, metrics on) beside the same engine without it, in the same run.

Run from the repository root: ``.venv/bin/python bench/otel_overhead.py [--duration 5] [--rounds 3]``.
Needs ``wrk`` and reuses the REST API benchmark's helpers and workers (bench/http_bench.py).
Rounds alternate off/on so drift on this shared 2-core machine hits both alike; the table shows
the median of each. Figures go to stdout and ``bench/results/otel.md``. Target (issue 7): with the
module on, ≥ 80 % of the req/s without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_bench import (  # the helpers live beside this script
    III,
    PYTHON,
    ROOT,
    TARGET_PATH,
    Figures,
    free_port,
    process,
    wait_ok,
    wait_port,
    wrk,
)

RESULTS = ROOT / "bench" / "results" / "otel.md"
HTTP_BENCH = str(Path(__file__).resolve().parent / "http_bench.py")
API_MODULE = """port: {engine_port}
modules:
  - class: modules::api::RestApiModule
    config: {{host: 127.0.0.1, port: {http_port}}}
"""
OTEL_MODULE = """  - class: modules::observability::OtelModule
    config:
      enabled: true
      exporter: memory
      sampling_ratio: 1.0
      memory_max_spans: 10000
      metrics_enabled: true
      prometheus_host: 127.0.0.1
      prometheus_port: {prom_port}
      logs_console_output: false
"""
CONNECTIONS = 64


def measure(workdir: Path, worker: str, otel: bool, duration: int) -> Figures:
    """One engine (with or without the module) + one worker, measured with wrk."""
    engine_port, http_port = free_port(), free_port()
    config_text = API_MODULE.format(engine_port=engine_port, http_port=http_port)
    if otel:
        config_text += OTEL_MODULE.format(prom_port=free_port())
    label = f"{worker} worker, OtelModule {'on' if otel else 'off'}"
    config = workdir / "engine.yaml"
    config.write_text(config_text)
    url = f"http://127.0.0.1:{http_port}/{TARGET_PATH}"
    with process(III, "-c", str(config), log=workdir / "engine.log"):
        wait_port(engine_port)
        worker_args = ("--serve", f"{worker}-worker", f"ws://127.0.0.1:{engine_port}", "1")
        with process(PYTHON, HTTP_BENCH, *worker_args, log=workdir / "worker.log"):
            wait_ok(url)
            wrk(label + " (warm-up)", url, 8, 1)
            return wrk(label, url, CONNECTIONS, duration)


def report(rows: list[tuple[str, list[Figures], list[Figures]]], duration: int, rounds: int) -> str:
    lines = [
        "# Observability overhead (bench/otel_overhead.py)",
        "",
        f"`wrk -t1 -c{CONNECTIONS} -d{duration}s` against GET /{TARGET_PATH} (REST API module → worker) on",
        f"loopback, {rounds} alternating rounds per setup, median shown. \"on\" adds OtelModule with",
        "`enabled: true, exporter: memory, sampling_ratio: 1.0, metrics_enabled: true` (a span per",
        "invocation, stored in memory; counters; Prometheus endpoint idle). 2-core machine shared with",
        "other work: compare the ratio, not absolute figures. "
        f"Load average at start: {os.getloadavg()[0]:.2f}.",
        "",
        "| worker | off req/s | on req/s | on ÷ off | off p99 ms | on p99 ms | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for worker, off, on in rows:
        off_rps = statistics.median(f.rps for f in off)
        on_rps = statistics.median(f.rps for f in on)
        ratio = on_rps / off_rps
        off_p99 = statistics.median(f.p99_ms for f in off)
        on_p99 = statistics.median(f.p99_ms for f in on)
        verdict = "met" if ratio >= 0.8 else "missed"
        lines.append(
            f"| {worker} | {off_rps:.0f} | {on_rps:.0f} | {ratio:.0%} | {off_p99:.2f} | {on_p99:.2f} | "
            f"{verdict} (≥ 80 %) |"
        )
    lines += ["", "Every round: " + "; ".join(
        f"{worker} {'/'.join(f'{a.rps:.0f}:{b.rps:.0f}' for a, b in zip(off, on, strict=True))} (off:on)"
        for worker, off, on in rows)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="off/on rounds per worker kind")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="iii-otel-bench-") as tmp:
        for worker in ("raw", "sdk"):
            off: list[Figures] = []
            on: list[Figures] = []
            for _ in range(args.rounds):
                off.append(measure(Path(tmp), worker, False, args.duration))
                on.append(measure(Path(tmp), worker, True, args.duration))
            rows.append((worker, off, on))
    text = report(rows, args.duration, args.rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
