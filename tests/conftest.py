"""Shared fixtures: real engine processes on free loopback ports, stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from iii import InitOptions, register_worker
from iii.iii import III

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"engine exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class EngineProcess:
    """An `iii` process started by a test; `ports` maps placeholder names to the ports used."""

    process: subprocess.Popen
    workdir: Path
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.ports["ENGINE_PORT"]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode


def start_engine(
    config: str,
    workdir: Path,
    *,
    ports: dict[str, int] | None = None,
    env: dict[str, str] | None = None,
    wait_ports: tuple[str, ...] = ("ENGINE_PORT",),
    args: tuple[str, ...] = (),
) -> EngineProcess:
    """Write `config` (with `{NAME}` placeholders for ports) and start `iii -c` on it.

    `ENGINE_PORT` is always assigned; other placeholders found in the text get free ports.
    """
    ports = dict(ports or {})
    ports.setdefault("ENGINE_PORT", free_port())
    for name in ("HTTP_PORT", "STREAM_PORT", "PROM_PORT", "EXTRA_PORT"):
        if "{" + name + "}" in config:
            ports.setdefault(name, free_port())
    text = config
    for name, value in ports.items():
        text = text.replace("{" + name + "}", str(value))
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(text)
    log_path = workdir / "engine.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(BIN / "iii"), "-c", str(config_path), *args],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    engine = EngineProcess(process, workdir, log_path, ports)
    try:
        for name in wait_ports:
            wait_for_port(ports[name], process=process)
    except Exception:
        engine.stop(signal.SIGKILL)
        raise RuntimeError(f"engine did not start:\n{engine.log()}") from None
    return engine


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    """Start engines with `engine_factory(config_text, **kw)`; all are stopped after the test."""
    started: list[EngineProcess] = []

    def factory(config: str, name: str = "engine", **kwargs) -> EngineProcess:
        engine = start_engine(config, tmp_path / f"{name}-{len(started)}", **kwargs)
        started.append(engine)
        return engine

    yield factory
    for engine in started:
        engine.stop()


def node_sdk_dir() -> Path | None:
    """A directory with node_modules/iii-sdk@0.9.0 installed (cached), or None without npm."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "iii-engine-tests" / "node-sdk"
    if not (cache / "node_modules" / "iii-sdk" / "package.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(cache),
                "iii-sdk@0.9.0",
            ],
            check=True,
            timeout=300,
        )
    return cache


@pytest.fixture
def workers() -> Iterator[Callable[[str], III]]:
    """Connect iii-sdk workers with ``workers(url)``; all are shut down after the test."""
    clients: list[III] = []

    def connect(url: str) -> III:
        client = register_worker(url, InitOptions(worker_name="iii-test", otel={"enabled": False}))
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.shutdown()
