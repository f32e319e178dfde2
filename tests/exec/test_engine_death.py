"""An engine killed with SIGKILL leaves none of the exec process groups behind; the guard that
leads each group reports the command's own exit status."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from tests.conftest import EngineProcess
from tests.exec.conftest import exec_config, started_pids, wait_for_log, wait_until
from tests.exec.processes import live_processes

GRACE_S = 3.0


def members(pgid: int) -> set[int]:
    return {pid for pid, group in live_processes().items() if group == pgid}


def wait_for_members(pgid: int, count: int) -> set[int]:
    wait_until(lambda: len(members(pgid)) >= count, 10, f"{count} live processes in group {pgid}")
    return members(pgid)


def kill_engine(engine: EngineProcess) -> float:
    """SIGKILL the engine process alone (not its group); when it died (monotonic)."""
    os.kill(engine.process.pid, signal.SIGKILL)
    engine.process.wait(5)
    return time.monotonic()


def wait_gone(pids: set[int], timeout: float) -> None:
    wait_until(lambda: not pids & set(live_processes()), timeout, f"processes {sorted(pids)} to exit")


@pytest.mark.parametrize(
    ("command", "count", "ignores_sigterm"),
    [
        # the guard, the command's shell, the inner shell and its two sleeps
        ("echo ready; sh -c 'sleep 300 & sleep 301 & wait'", 5, False),
        ("trap '' TERM; echo ready; sleep 300 & sleep 301", 3, True),
    ],
    ids=["shell-grandchildren", "ignoring-sigterm"],
)
def test_sigkilled_engine_takes_the_whole_group_down(
    engine_factory: Callable[..., EngineProcess],
    process_groups: list[int],
    command: str,
    count: int,
    ignores_sigterm: bool,
) -> None:
    engine = engine_factory(exec_config([command]))
    (pgid,) = started_pids(wait_for_log(engine, "ready\n"))
    process_groups.append(pgid)
    group = wait_for_members(pgid, count)

    died_at = kill_engine(engine)
    if ignores_sigterm:
        time.sleep(GRACE_S / 2)
        assert len(group & set(live_processes())) >= 2  # the sleeps are still there
    wait_gone(group, GRACE_S + 3)
    took = time.monotonic() - died_at
    assert took >= GRACE_S - 0.5 if ignores_sigterm else took < GRACE_S  # SIGKILL only after the grace


def test_background_processes_of_a_finished_step_are_still_guarded(
    engine_factory: Callable[..., EngineProcess], process_groups: list[int]
) -> None:
    engine = engine_factory(exec_config(["sleep 300 & echo spawned", "echo ready; sleep 302"]))
    step, final = started_pids(wait_for_log(engine, "ready\n"))
    process_groups.extend([step, final])
    assert step not in live_processes()  # the step's guard exited with the step
    left_behind = wait_for_members(step, 2)  # its `sleep 300` and the watcher guarding it
    group = left_behind | wait_for_members(final, 2)

    kill_engine(engine)
    wait_gone(group, GRACE_S)


def test_exit_status_and_killing_signal_of_the_command_reach_the_engine(
    engine_factory: Callable[..., EngineProcess], process_groups: list[int]
) -> None:
    engine = engine_factory(exec_config(["exit 5", "true"]))
    wait_for_log(engine, "`exit 5` exited with status 5; the rest of the pipeline is skipped")
    engine.stop()

    engine = engine_factory(exec_config(["echo run; kill -TERM $$"]))
    log = wait_for_log(engine, "crashed (was killed by SIGTERM); restarting in 0.5 s")
    process_groups.extend(started_pids(log))
    assert engine.stop() == 0
