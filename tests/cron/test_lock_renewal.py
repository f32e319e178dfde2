"""A job that runs for several lock TTLs keeps its lock: nothing else runs the job meanwhile."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
import redis

from tests.conftest import EngineProcess
from tests.cron.conftest import KV_CONFIG, REDIS_URL, redis_config
from tests.cron.recorder import CronWorker, Fire, FireLog

StartEngine = Callable[..., EngineProcess]
StartWorker = Callable[..., CronWorker]
EVERY_SECOND = "* * * * * *"
LOCK_TTL_MS = 300
HOLD_S = 1.2  # four lock TTLs
LOST = "cron lock lost"

KV_SHORT_TTL = KV_CONFIG + (
    "    config:\n      adapter:\n        class: modules::cron::KvCronAdapter\n"
    f"        config:\n          lock_ttl_ms: {LOCK_TTL_MS}\n"
)


def assert_runs_never_overlap(fires: list[Fire]) -> None:
    """Each run starts after the previous one ended, and the next tick after it fires (released)."""
    fires = sorted(fires, key=lambda fire: fire.received_at)
    for earlier, later in itertools.pairwise(fires):
        assert later.received_at - earlier.received_at >= HOLD_S - 0.05, (
            f"run of {later.payload['scheduled_time']} ({later.label}) started while the run of "
            f"{earlier.payload['scheduled_time']} ({earlier.label}) still held the lock"
        )
        assert later.scheduled - earlier.scheduled <= 3, "the lock was not released after the run"


@pytest.mark.timeout(60)
def test_kv_lock_is_kept_while_a_job_outlives_its_ttl(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog
) -> None:
    """Two triggers share a job id in one engine: the one not running finds the lock held."""
    engine = engine_factory(KV_SHORT_TTL)
    for label in ("one", "two"):
        trigger = {"expression": EVERY_SECOND, "job_id": "renewed"}
        cron_worker(engine.ws_url, trigger, label=label, function_id=f"test.cron.{label}", hold_s=HOLD_S)
    fires = fire_log.wait_for(5, timeout=20)
    time.sleep(HOLD_S + 0.3)  # the last run ends, its lock is released and not renewed any more
    assert_runs_never_overlap(fires)
    assert LOST not in engine.log()


@pytest.mark.timeout(60)
def test_redis_lock_is_kept_while_a_job_outlives_its_ttl_then_released(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog, shared_job_id: str
) -> None:
    """Two engines share Redis: the lock key keeps one holder for the whole run, then disappears."""
    engines = [engine_factory(redis_config(lock_ttl_ms=LOCK_TTL_MS), name=label) for label in "ab"]
    for label, engine in zip("ab", engines, strict=True):
        trigger = {"expression": EVERY_SECOND, "job_id": shared_job_id}
        cron_worker(engine.ws_url, trigger, label=label, hold_s=HOLD_S)

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"cron_lock:{shared_job_id}"
    fire_log.wait_for(1, timeout=10)
    samples: list[tuple[float, str | None, int]] = []  # (time, holder, pttl ms)
    deadline = time.time() + 6
    while time.time() < deadline:
        with client.pipeline() as pipe:
            holder, pttl = pipe.get(key).pttl(key).execute()
        samples.append((time.time(), holder, pttl))
        time.sleep(0.02)
    time.sleep(HOLD_S)
    client.close()
    fires = fire_log.snapshot()

    assert_runs_never_overlap(fires)
    runs = [fire for fire in fires if samples[0][0] < fire.received_at and fire.scheduled + 2 < deadline]
    assert len(runs) >= 2
    holders = set()
    for run in runs:
        during = [s for s in samples if run.received_at + 0.05 < s[0] < run.received_at + HOLD_S - 0.05]
        assert {holder for _, holder, _ in during} != {None}
        assert len({holder for _, holder, _ in during}) == 1, "the lock changed hands during a run"
        assert all(0 < pttl <= LOCK_TTL_MS for _, _, pttl in during)
        holders |= {holder for _, holder, _ in during}
        released = [s for s in samples if run.received_at + HOLD_S + 0.1 < s[0] < run.scheduled + 1.95]
        assert released and all(holder is None for _, holder, _ in released), "lock kept after the run"
    assert len(holders) == len(runs), "every claim has its own holder id"
    assert not any(LOST in engine.log() for engine in engines)


@pytest.mark.timeout(60)
def test_a_lock_lost_during_a_run_is_logged_and_not_released(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog, shared_job_id: str
) -> None:
    engine = engine_factory(redis_config(lock_ttl_ms=LOCK_TTL_MS))
    worker = cron_worker(engine.ws_url, {"expression": EVERY_SECOND, "job_id": shared_job_id}, hold_s=HOLD_S)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"cron_lock:{shared_job_id}"
    fire_log.wait_for(1, timeout=10)
    client.set(key, "intruder", px=10_000)  # another holder took the lock mid-run
    time.sleep(HOLD_S + 0.2)
    worker.close()
    assert client.get(key) == "intruder", "the run released a lock it no longer held"
    client.close()
    log = engine.log()
    assert log.count(LOST) == 1
    warning = log[log.index(LOST) :].split("\n[", 1)[0]  # the entry and its indented fields
    assert shared_job_id in warning and "test.cron.record" in warning and "trigger_id" in warning
