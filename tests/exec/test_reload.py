"""The engine runs the sample app (an iii-sdk worker behind an HTTP route); editing the watched file
changes the HTTP answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import EngineProcess
from tests.exec.conftest import app_config, wait_for_answer, write_answer
from tests.exec.processes import group_alive, pid_alive

RELOAD_LIMIT_S = 2.0
FIRST_START_S = 20.0


def test_edit_reloads_app_and_stop_leaves_no_process(
    engine_factory: Callable[..., EngineProcess],
    app_dir: Path,
    process_groups: list[int],
) -> None:
    config = app_config(app_dir, before=("echo preparing",))
    engine = engine_factory(config, wait_ports=("ENGINE_PORT", "HTTP_PORT"))
    first = wait_for_answer(engine, "one", FIRST_START_S)
    process_groups.append(first["pgid"])

    edited_at = time.monotonic()
    write_answer(app_dir, "two")
    second = wait_for_answer(engine, "two", RELOAD_LIMIT_S)
    assert time.monotonic() - edited_at <= RELOAD_LIMIT_S
    process_groups.append(second["pgid"])
    assert second["pid"] != first["pid"]
    assert not pid_alive(first["pid"]) and not pid_alive(first["helper_pid"])
    assert not group_alive(first["pgid"])

    assert engine.stop() == 0
    assert not pid_alive(second["pid"]) and not pid_alive(second["helper_pid"])
    assert not group_alive(second["pgid"])
    log = engine.log()
    assert "[echo preparing] preparing" in log
    assert "Change detected in " in log and "answer.py; restarting the pipeline" in log
