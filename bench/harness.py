"""Shared pieces of the benchmark scripts: free ports, engine processes, latency figures."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL after 10 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@contextmanager
def engine(config: str, workdir: Path, port: int, *wait_for: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run `iii -c` on ``config`` text until the block ends; waits for ``port`` and ``wait_for``."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"iii-{port}.yaml"
    path.write_text(config)
    log = (workdir / f"iii-{port}.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "iii"), "-c", str(path)],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for each in (port, *wait_for):
            wait_port(each)
        yield process
    finally:
        stop(process)
        log.close()


@dataclass(frozen=True)
class Latency:
    """Percentiles (milliseconds) and rate of a series of timed calls."""

    label: str
    p50_ms: float
    p99_ms: float
    per_second: float

    @classmethod
    def of(cls, label: str, seconds: list[float], elapsed: float) -> Latency:
        ordered = sorted(seconds)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return cls(label, statistics.median(ordered) * 1000, p99 * 1000, len(ordered) / elapsed)


def write_results(name: str, text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(text)
    return path
