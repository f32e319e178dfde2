"""Several engines sharing Redis: every tick fires exactly once, survivors take over, restarts fence."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable

import pytest
import redis

from tests.conftest import EngineProcess
from tests.cron.conftest import REDIS_URL, redis_config
from tests.cron.recorder import CronWorker, Fire, FireLog

StartEngine = Callable[..., EngineProcess]
StartWorker = Callable[..., CronWorker]
EVERY_SECOND = "* * * * * *"


def assert_each_tick_once(fires: list[Fire]) -> list[float]:
    """No scheduled time twice and no second missing between the first and the last fire."""
    scheduled = [round(fire.scheduled) for fire in fires]
    duplicates = [t for t, n in Counter(scheduled).items() if n > 1]
    assert not duplicates, f"ticks fired more than once: {duplicates}"
    missing = sorted(set(range(min(scheduled), max(scheduled) + 1)) - set(scheduled))
    assert not missing, f"ticks never fired: {missing}"
    return sorted(scheduled)


def sleep_to_mid_second() -> None:
    time.sleep((1.5 - time.time() % 1) % 1)


@pytest.mark.timeout(180)
def test_two_engines_fire_every_tick_once_and_a_kill_loses_nothing(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog, shared_job_id: str
) -> None:
    engines = {label: engine_factory(redis_config(lock_ttl_ms=2000), name=label) for label in ("a", "b")}
    for label, engine in engines.items():
        cron_worker(engine.ws_url, {"expression": EVERY_SECOND, "job_id": shared_job_id}, label=label)

    fire_log.wait_for(30, timeout=60)
    sleep_to_mid_second()
    victim = fire_log.snapshot()[-1].label
    survivor = "b" if victim == "a" else "a"
    engines[victim].stop(signal.SIGKILL)
    killed_at = time.time()

    fires = fire_log.wait_for(65, timeout=60)
    ticks = assert_each_tick_once(fires)
    assert len(ticks) >= 65
    after_kill = [fire for fire in fires if fire.scheduled > killed_at]
    assert after_kill and {fire.label for fire in after_kill} == {survivor}
    assert after_kill[0].scheduled - killed_at <= 1.0, "the survivor missed the first tick after the kill"
    assert all(fire.payload["job_id"] == shared_job_id for fire in fires)
    stored = redis.Redis.from_url(REDIS_URL).get(f"cron_last_fire:{shared_job_id}")
    assert int(stored) >= round(fires[-1].scheduled * 1000)


@pytest.mark.timeout(120)
def test_survivor_takes_over_within_one_lock_ttl_when_the_holder_dies(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog, shared_job_id: str
) -> None:
    lock_ttl_s = 3
    engines = {
        label: engine_factory(redis_config(lock_ttl_ms=lock_ttl_s * 1000), name=label) for label in "ab"
    }
    for label, engine in engines.items():
        trigger = {"expression": EVERY_SECOND, "job_id": shared_job_id}
        cron_worker(engine.ws_url, trigger, label=label, hold_s=1.5)

    fire_log.wait_for(2, timeout=20)
    count = len(fire_log.snapshot())
    holder_fire = fire_log.wait_for(count + 1, timeout=10)[-1]  # a fire that just started: lock held 1.5 s
    engines[holder_fire.label].stop(signal.SIGKILL)
    killed_at = time.time()
    assert killed_at - holder_fire.scheduled < 1.0, "the kill came too late to hit a held lock"

    fires = fire_log.wait_for(len(fire_log.snapshot()) + 1, timeout=lock_ttl_s + 5)
    takeover = fires[-1]
    assert takeover.label != holder_fire.label
    # the dead holder's lock blocked the ticks within its TTL, then the survivor fired at once
    assert holder_fire.scheduled + lock_ttl_s <= takeover.scheduled <= holder_fire.scheduled + lock_ttl_s + 1
    assert takeover.scheduled - killed_at <= lock_ttl_s + 1
    assert len({round(fire.scheduled) for fire in fires}) == len(fires)


@pytest.mark.timeout(120)
def test_restart_never_fires_a_scheduled_time_twice(
    engine_factory: StartEngine, cron_worker: StartWorker, fire_log: FireLog, shared_job_id: str
) -> None:
    config = redis_config(lock_ttl_ms=1500)
    engine = engine_factory(config, name="first")
    cron_worker(engine.ws_url, {"expression": EVERY_SECOND, "job_id": shared_job_id})
    before = fire_log.wait_for(3, timeout=15)
    engine.stop(signal.SIGKILL)  # right after a fire: its lock may still be held
    restarted = engine_factory(config, name="second", ports=dict(engine.ports))
    fires = fire_log.wait_for(len(before) + 4, timeout=20)
    scheduled = [round(fire.scheduled) for fire in fires]
    assert len(scheduled) == len(set(scheduled)), f"a tick fired twice across the restart: {scheduled}"
    assert scheduled == sorted(scheduled)
    restarted.stop()
    stored = redis.Redis.from_url(REDIS_URL).get(f"cron_last_fire:{shared_job_id}")
    assert int(stored) == round(fire_log.snapshot()[-1].scheduled * 1000)
