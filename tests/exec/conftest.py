"""Exec test fixtures: the sample app in a temporary directory, an SDK client, leftover cleanup."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from iii import InitOptions, register_worker
from iii.iii import III

from tests.conftest import EngineProcess
from tests.exec.processes import group_alive

APP_SOURCE = Path(__file__).parent / "app"
ANSWER_FUNCTION = "exec-app::answer"
POLL_S = 0.05


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A copy of the sample app (``worker.py`` + the watched ``answer.py``)."""
    target = tmp_path / "app"
    shutil.copytree(APP_SOURCE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def exec_config(commands: list[str], watch: list[str] | None = None) -> str:
    """An engine config with only ExecModule (the module list as JSON, which is valid YAML)."""
    config: dict[str, Any] = {"exec": commands}
    if watch is not None:
        config["watch"] = watch
    modules = [{"class": "modules::shell::ExecModule", "config": config}]
    return f"port: {{ENGINE_PORT}}\nmodules: {json.dumps(modules)}\n"


def app_command(app: Path) -> str:
    """The shell command that runs the sample app against the test's engine."""
    return f"{sys.executable} -B {app}/worker.py ws://127.0.0.1:{{ENGINE_PORT}}"


def app_config(app: Path, before: tuple[str, ...] = ()) -> str:
    """``before`` commands, then the sample app; ``app/*.py`` watched."""
    return exec_config([*before, app_command(app)], [f"{app}/*.py"])


def write_answer(app: Path, answer: str) -> None:
    (app / "answer.py").write_text(f"ANSWER = {answer!r}\n")


def wait_for_answer(client: III, expected: str, timeout: float) -> dict[str, Any]:
    """Call the app until it answers ``expected``; its full result."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = client.trigger({"function_id": ANSWER_FUNCTION, "payload": {}, "timeout_ms": 2000})
        except Exception as exc:  # not registered (yet), or its worker just went away
            last = exc
        else:
            if last["answer"] == expected:
                return last
        time.sleep(POLL_S)
    raise AssertionError(f"no answer {expected!r} within {timeout} s (last: {last!r})")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def sdk_client() -> Iterator[Callable[[EngineProcess], III]]:
    """``sdk_client(engine)``: a connected iii-sdk worker, shut down after the test."""
    clients: list[III] = []

    def connect(engine: EngineProcess) -> III:
        options = InitOptions(
            worker_name="exec-test-client", enable_metrics_reporting=False, otel={"enabled": False}
        )
        client = register_worker(engine.ws_url, options)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.shutdown()


@pytest.fixture
def process_groups() -> Iterator[list[int]]:
    """Process groups a test started through the engine; any still alive afterwards is killed."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        if group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def wait_for_log(engine: EngineProcess, needle: str, count: int = 1, timeout: float = 10.0) -> str:
    """The engine log once ``needle`` occurs ``count`` times in it."""
    what = f"{needle!r} (x{count}) in the engine log"
    wait_until(lambda: engine.log().count(needle) >= count, timeout, what)
    return engine.log()


def started_pids(log: str) -> list[int]:
    """The pids of the ``Started `command``` lines, in order (each is its process group id)."""
    return [int(pid) for pid in re.findall(r"Started `.*`\n(?:.*\n)*?\s+└ pid: (\d+)", log)]
