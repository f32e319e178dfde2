"""Pipeline behaviour: order, output forwarding, crash back-off, bad commands, stubborn processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import EngineProcess
from tests.exec.conftest import exec_config, started_pids, wait_for_log
from tests.exec.processes import group_alive


def test_steps_run_in_order_output_is_prefixed_and_a_failed_step_stops_the_run(
    engine_factory: Callable[..., EngineProcess],
) -> None:
    engine = engine_factory(exec_config(["echo first", "echo oops >&2", "exit 4", "echo never"]))
    log = wait_for_log(engine, "the rest of the pipeline is skipped")
    assert log.index("[echo first] first") < log.index("[echo oops >&2] (stderr) oops")
    assert "`exit 4` exited with status 4; the rest of the pipeline is skipped" in log
    assert "Started `echo never`" not in log
    assert engine.stop() == 0


def test_crashing_final_command_restarts_with_backoff(
    engine_factory: Callable[..., EngineProcess], process_groups: list[int]
) -> None:
    engine = engine_factory(exec_config(["echo run; exit 3"]))
    log = wait_for_log(engine, "[echo run; exit 3] run", count=3, timeout=10)
    process_groups.extend(started_pids(log))
    first = log.index("crashed (exited with status 3); restarting in 0.5 s")
    second = log.index("crashed (exited with status 3); restarting in 1 s")
    assert first < second
    assert engine.stop() == 0


def test_missing_command_is_logged_engine_keeps_running_and_a_change_retries(
    engine_factory: Callable[..., EngineProcess], watched: Path
) -> None:
    engine = engine_factory(exec_config(["no-such-command-for-iii-exec"], [f"{watched}/*.txt"]))
    wait_for_log(engine, "not restarted until a watched file changes")
    log = wait_for_log(engine, "(stderr) /bin/sh: 1: no-such-command-for-iii-exec: not found")
    assert "`no-such-command-for-iii-exec` exited with status 127: the command was not found" in log
    assert engine.process.poll() is None

    (watched / "retry.txt").write_text("again")
    wait_for_log(engine, "Started `no-such-command-for-iii-exec`", count=2)
    assert engine.stop() == 0


def test_process_ignoring_sigterm_is_killed_on_restart_and_on_shutdown(
    engine_factory: Callable[..., EngineProcess], watched: Path, process_groups: list[int]
) -> None:
    stubborn = "trap '' TERM; echo ready; while :; do sleep 0.2; done"
    engine = engine_factory(exec_config([stubborn], [f"{watched}/*.txt"]))
    log = wait_for_log(engine, "ready\n")
    process_groups.extend(started_pids(log))

    (watched / "change.txt").write_text("restart")
    log = wait_for_log(engine, "ready\n", count=2, timeout=10)
    assert "did not exit within 3 s of SIGTERM; sending SIGKILL" in log
    first, second = started_pids(log)
    process_groups.append(second)
    assert not group_alive(first)

    assert engine.stop() == 0
    assert engine.log().count("did not exit within 3 s of SIGTERM; sending SIGKILL") == 2
    assert not group_alive(second)


def test_bad_globs_are_logged_and_the_valid_ones_still_watch(
    engine_factory: Callable[..., EngineProcess], tmp_path: Path, watched: Path
) -> None:
    (watched / "deep" / "er").mkdir(parents=True)
    globs = [f"{watched}/[oops", f"{tmp_path}/missing/*.txt", f"{watched}/**/*.{{txt,cfg}}"]
    engine = engine_factory(exec_config(["echo started; sleep 300"], globs))
    log = wait_for_log(engine, "[echo started; sleep 300] started")
    assert f"invalid watch glob '{watched}/[oops' ignored: unclosed '['" in log
    assert f"watch glob '{tmp_path}/missing/*.txt' ignored: directory" in log

    (watched / "deep" / "er" / "notes.md").write_text("not watched")
    (watched / "deep" / "er" / "app.cfg").write_text("watched")
    log = wait_for_log(engine, "[echo started; sleep 300] started", count=2)
    assert "app.cfg; restarting the pipeline" in log
    assert "notes.md" not in log
    assert engine.stop() == 0


def test_a_burst_of_changes_during_a_step_restarts_once_from_the_first_command(
    engine_factory: Callable[..., EngineProcess], watched: Path, process_groups: list[int]
) -> None:
    engine = engine_factory(exec_config(["echo building; sleep 300", "echo serving"], [f"{watched}/*.txt"]))
    log = wait_for_log(engine, "[echo building; sleep 300] building")
    process_groups.extend(started_pids(log))

    for index in range(5):
        (watched / f"file-{index}.txt").write_text("burst")
    log = wait_for_log(engine, "[echo building; sleep 300] building", count=2)
    first_build = started_pids(log)[0]
    assert not group_alive(first_build)
    assert "and 2 more; restarting the pipeline" in log
    assert engine.stop() == 0
    log = engine.log()
    assert log.count("Restarting the pipeline") == 1
    assert "Started `echo serving`" not in log
