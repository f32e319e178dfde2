"""The ``cron`` trigger on one engine: payload, conditions, refusals, timezones, persistence."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import EngineProcess
from tests.cron.conftest import KV_CONFIG
from tests.cron.recorder import CronWorker, FireLog
from tests.kernel.rawworker import RawWorker

StartEngine = Callable[..., EngineProcess]
StartWorker = Callable[..., CronWorker]


def test_payload_shape_and_timing(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog
) -> None:
    engine = engine_factory(KV_CONFIG)
    worker = cron_worker(engine.ws_url, {"expression": "* * * * * *"})
    fires = fire_log.wait_for(3, timeout=10)
    trigger_ids = [t.id for t in worker.client.list_triggers() if t.function_id == "test.cron.record"]
    for fire in fires:
        assert set(fire.payload) == {"trigger", "job_id", "scheduled_time", "actual_time"}
        assert fire.payload["trigger"] == "cron"
        assert [fire.payload["job_id"]] == trigger_ids
        assert fire.payload["scheduled_time"].endswith("+00:00")
        assert "." not in fire.payload["scheduled_time"]
        assert fire.payload["actual_time"].endswith("+00:00")
        assert 0 <= fire.actual - fire.scheduled < 0.5
    scheduled = [fire.scheduled for fire in fires]
    assert scheduled == sorted(set(scheduled))
    assert all(later - earlier == 1 for earlier, later in itertools.pairwise(scheduled))


def test_unregister_stops_the_job(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog
) -> None:
    engine = engine_factory(KV_CONFIG)
    worker = cron_worker(engine.ws_url, {"expression": "* * * * * *", "job_id": "stoppable"})
    fire_log.wait_for(1, timeout=10)
    worker.trigger.unregister()
    time.sleep(0.5)
    count = len(fire_log.snapshot())
    time.sleep(2.2)
    assert len(fire_log.snapshot()) == count
    assert all(fire.payload["job_id"] == "stoppable" for fire in fire_log.snapshot())


def test_condition_false_skips_and_receives_the_event(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog
) -> None:
    engine = engine_factory(KV_CONFIG)
    seen: list[dict] = []

    def refuse(data: dict) -> bool:
        seen.append(data)
        return False

    worker = cron_worker(
        engine.ws_url,
        {"expression": "* * * * * *", "job_id": "allowed", "condition_function_id": "test.cron.allow"},
    )
    worker.client.register_function({"id": "test.cron.allow"}, lambda data: True)
    worker.client.register_function({"id": "test.cron.refuse"}, refuse)
    worker.client.register_trigger(
        {
            "type": "cron",
            "function_id": "test.cron.record",
            "config": {
                "expression": "* * * * * *",
                "job_id": "refused",
                "condition_function_id": "test.cron.refuse",
            },
        }
    )
    fire_log.wait_for(3, timeout=10)
    assert {fire.payload["job_id"] for fire in fire_log.snapshot()} == {"allowed"}
    assert seen, "the condition was never asked"
    assert set(seen[0]) == {"trigger", "job_id", "scheduled_time", "actual_time"}
    assert seen[0]["job_id"] == "refused"


async def test_invalid_expression_is_refused_to_the_worker(engine_factory: StartEngine) -> None:
    engine = engine_factory(KV_CONFIG)
    worker = await RawWorker.connect(engine.ws_url)
    try:
        for trigger_id, config, reason in [
            ("bad-5", {"expression": "* * * * *"}, "classic 5-field"),
            ("bad-dow", {"expression": "0 0 0 * * 0"}, "day-of-week must be between 1 and 7"),
            ("bad-empty", {"expression": ""}, "non-empty"),
            ("bad-missing", {}, "non-empty"),
            ("bad-tz", {"expression": "* * * * * *", "timezone": "Mars/Olympus"}, "unknown timezone"),
        ]:
            await worker.send(
                {
                    "type": "registertrigger",
                    "id": trigger_id,
                    "trigger_type": "cron",
                    "function_id": "f",
                    "config": config,
                }
            )
            result = await worker.receive("triggerregistrationresult", id=trigger_id)
            assert result["trigger_type"] == "cron"
            assert result["function_id"] == "f"
            assert result["error"]["code"] == "trigger_registration_failed"
            assert reason in result["error"]["message"]
        listed = await worker.call("engine::triggers::list", {})
        assert listed["result"]["triggers"] == []
        assert "Invalid cron expression" in engine.log()
    finally:
        await worker.close()


def test_timezone_evaluates_fields_on_that_wall_clock(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog
) -> None:
    engine = engine_factory(KV_CONFIG)
    while datetime.now(UTC).minute == 59 and datetime.now(UTC).second > 50:
        time.sleep(1)  # keep the hour stable for the next few seconds
    zone = "Pacific/Kiritimati"  # UTC+14: never the same hour as UTC
    local_hour = datetime.now(ZoneInfo(zone)).hour
    cron_worker(engine.ws_url, {"expression": f"* * {local_hour} * * *", "timezone": zone, "job_id": "local"})
    cron_worker(
        engine.ws_url, {"expression": f"* * {local_hour} * * *", "job_id": "utc"}, function_id="test.cron.utc"
    )
    fire_log.wait_for(2, timeout=10)
    assert {fire.payload["job_id"] for fire in fire_log.snapshot()} == {"local"}
    assert all(fire.payload["scheduled_time"].endswith("+00:00") for fire in fire_log.snapshot())


FILE_CONFIG = """\
port: {ENGINE_PORT}
modules:
  - class: modules::cron::CronModule
    config:
      adapter:
        class: modules::cron::KvCronAdapter
        config:
          store_method: file_based
          file_path: %s
          save_interval_ms: 200
"""


def test_file_state_survives_restart_and_fences_fired_ticks(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog, tmp_path: Path
) -> None:
    config = FILE_CONFIG % (tmp_path / "cron-data")
    state_file = tmp_path / "cron-data" / "cron_locks.json"
    engine = engine_factory(config)
    worker = cron_worker(engine.ws_url, {"expression": "* * * * * *", "job_id": "persisted"})
    fire_log.wait_for(2, timeout=10)
    engine.stop()
    last = fire_log.snapshot()[-1]
    assert json.loads(state_file.read_text()) == {"last_fire_ms": {"persisted": round(last.scheduled * 1000)}}

    # Pretend a previous incarnation already fired the next 3 s (e.g. its clock ran ahead):
    # the restarted engine must not fire those ticks again.
    fenced_until = int(time.time()) + 4
    state_file.write_text(json.dumps({"last_fire_ms": {"persisted": fenced_until * 1000}}))
    worker.close()
    restarted = engine_factory(config)
    cron_worker(restarted.ws_url, {"expression": "* * * * * *", "job_id": "persisted"})
    count = len(fire_log.snapshot())
    fires = fire_log.wait_for(count + 2, timeout=15)[count:]
    assert fires[0].scheduled > fenced_until
    restarted.stop()
    assert json.loads(state_file.read_text())["last_fire_ms"]["persisted"] >= round(
        fires[-1].scheduled * 1000
    )


def test_module_config_is_strict(engine_factory: StartEngine) -> None:
    with pytest.raises(RuntimeError, match="unknown key"):
        engine_factory(KV_CONFIG + "    config:\n      lock_ttl_ms: 5\n")
    bad_redis = KV_CONFIG + (
        "    config:\n      adapter:\n        class: modules::cron::RedisCronAdapter\n"
        "        config:\n          redis_url: redis://127.0.0.1:1/0\n"
    )
    with pytest.raises(RuntimeError, match="cannot connect"):
        engine_factory(bad_redis)


def test_triggers_sharing_a_job_id_fire_once_per_tick(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog
) -> None:
    engine = engine_factory(KV_CONFIG)
    for label in ("one", "two"):
        cron_worker(engine.ws_url, {"expression": "* * * * * *", "job_id": "shared"}, label=label)
    fires = fire_log.wait_for(4, timeout=10)
    time.sleep(0.5)
    scheduled = [fire.scheduled for fire in fire_log.snapshot()]
    assert len(scheduled) == len(set(scheduled)) >= len(fires)


def test_condition_error_skips_the_tick(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog
) -> None:
    engine = engine_factory(KV_CONFIG)

    def broken(data: dict) -> bool:
        raise RuntimeError("condition exploded")

    worker = cron_worker(
        engine.ws_url,
        {"expression": "* * * * * *", "job_id": "guarded", "condition_function_id": "test.cron.broken"},
    )
    worker.client.register_function({"id": "test.cron.broken"}, broken)
    cron_worker(
        engine.ws_url, {"expression": "* * * * * *", "job_id": "plain"}, function_id="test.cron.plain"
    )
    fire_log.wait_for(3, timeout=10)
    assert {fire.payload["job_id"] for fire in fire_log.snapshot()} == {"plain"}


def test_a_long_invocation_skips_ticks_instead_of_overlapping(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog
) -> None:
    engine = engine_factory(KV_CONFIG)
    cron_worker(engine.ws_url, {"expression": "* * * * * *", "job_id": "slow"}, hold_s=1.5)
    fires = fire_log.wait_for(3, timeout=15)
    gaps = [later.scheduled - earlier.scheduled for earlier, later in itertools.pairwise(fires)]
    assert all(gap >= 2.0 for gap in gaps), f"ticks during a 1.5 s invocation must be skipped: {gaps}"
    starts = [fire.received_at for fire in fires]
    assert all(later - earlier >= 1.5 for earlier, later in itertools.pairwise(starts))
