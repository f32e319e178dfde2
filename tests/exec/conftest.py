"""Exec test helpers: configs, the sample app in a temporary directory, log/HTTP polling, cleanup."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EngineProcess
from tests.exec.processes import group_alive

APP_SOURCE = Path(__file__).parent / "app"
ANSWER_PATH = "exec-app/answer"
POLL_S = 0.05


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A copy of the sample app (``worker.py`` + the watched ``answer.py``)."""
    target = tmp_path / "app"
    shutil.copytree(APP_SOURCE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def watched(tmp_path: Path) -> Path:
    """An empty directory for tests to watch."""
    directory = tmp_path / "watched"
    directory.mkdir()
    return directory


def exec_config(commands: list[str], watch: list[str] | None = None, *, http: bool = False) -> str:
    """An engine config with ExecModule (and with ``http`` the REST API on ``{HTTP_PORT}``).

    The module list is written as JSON, which is valid YAML."""
    config: dict[str, Any] = {"exec": commands}
    if watch is not None:
        config["watch"] = watch
    modules = [{"class": "modules::shell::ExecModule", "config": config}]
    if http:
        api = {"class": "modules::api::RestApiModule", "config": {"host": "127.0.0.1", "port": "HTTP_PORT"}}
        modules.insert(0, api)
    text = json.dumps(modules).replace('"HTTP_PORT"', "{HTTP_PORT}")
    return f"port: {{ENGINE_PORT}}\nmodules: {text}\n"


def app_command(app: Path) -> str:
    """The shell command that runs the sample app against the test's engine."""
    return f"{sys.executable} -B {app}/worker.py ws://127.0.0.1:{{ENGINE_PORT}}"


def app_config(app: Path, before: tuple[str, ...] = ()) -> str:
    """``before`` commands, then the sample app; ``app/*.py`` watched."""
    return exec_config([*before, app_command(app)], [f"{app}/*.py"], http=True)


def write_answer(app: Path, answer: str) -> None:
    (app / "answer.py").write_text(f"ANSWER = {answer!r}\n")


def get_answer(engine: EngineProcess) -> dict[str, Any]:
    """``GET /exec-app/answer`` on the engine's REST API (raises OSError/HTTPError until served)."""
    url = f"http://127.0.0.1:{engine.ports['HTTP_PORT']}/{ANSWER_PATH}"
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())


def wait_for_answer(engine: EngineProcess, expected: str, timeout: float) -> dict[str, Any]:
    """Ask the app over HTTP until it answers ``expected``; its full answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = get_answer(engine)
        except OSError as exc:  # 404 until the route is registered, or the old worker just went away
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
