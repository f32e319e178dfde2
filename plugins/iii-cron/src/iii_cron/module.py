"""``modules::cron::CronModule``: the ``cron`` trigger type, fired once per tick across engines."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from iii_engine import ConfigView, Engine, Module, Trigger, TriggerError, hookimpl

from .expression import CronExpressionError, CronSchedule, parse
from .locks import Claim, CronLockAdapter
from .wheel import TimerWheel

TRIGGER_TYPE = "cron"
DEFAULT_ADAPTER = "modules::cron::KvCronAdapter"
STOP_GRACE_S = 3.0


def rfc3339(timestamp: float) -> str:
    """UTC, ``+00:00`` offset, fractional seconds only when non-zero (the reference's format)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


@dataclass(slots=True, eq=False)
class CronJob:
    """A registered cron trigger. ``job_id`` names its lock and last-fire state."""

    trigger: Trigger
    job_id: str
    schedule: CronSchedule
    active: bool = True


def _optional_string(config: dict[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise TriggerError(f"cron trigger '{key}' must be a non-empty string, got {value!r}")
    return value


def _timezone(name: str | None) -> tzinfo:
    if name is None:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TriggerError(f"unknown timezone {name!r} (expected an IANA name like 'Europe/Paris')") from None


class CronModule(Module):
    """Schedules every ``cron`` trigger on one timer wheel; each tick is claimed through the lock
    adapter (lock + persisted last fire), then the condition and the function run, awaited, and
    the next tick after *now* is scheduled (ticks that pass meanwhile are skipped)."""

    logger_name = "iii::modules::cron"

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        super().__init__(engine, config)
        self.adapter: CronLockAdapter | None = None
        self.jobs: dict[str, CronJob] = {}
        self.wheel: TimerWheel[CronJob] = TimerWheel(self._due)
        self.ticks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    @hookimpl
    async def iii_module_init(self) -> None:
        self.adapter = self.engine.create_adapter(self.config, DEFAULT_ADAPTER)
        self.config.reject_unknown()
        await self.adapter.start()

    @hookimpl
    def iii_module_register(self) -> None:
        self.engine.register_trigger_type(TRIGGER_TYPE, "Fires a function on a cron schedule", self)

    @hookimpl
    def iii_module_start(self) -> None:
        self.engine.spawn(self.wheel.run(), name="cron-wheel")

    @hookimpl
    async def iii_module_stop(self) -> None:
        for job in self.jobs.values():
            job.active = False
        self.jobs.clear()
        if self.ticks:
            await asyncio.wait(list(self.ticks), timeout=STOP_GRACE_S)
        if self.adapter is not None:
            await self.adapter.stop()

    # -- trigger owner -------------------------------------------------------------------------

    async def register_trigger(self, trigger: Trigger) -> None:
        config = trigger.config if isinstance(trigger.config, dict) else {}
        timezone = _timezone(_optional_string(config, "timezone"))
        job_id = _optional_string(config, "job_id") or trigger.id
        try:
            schedule = parse(config.get("expression"), timezone)
        except CronExpressionError as exc:
            raise TriggerError(f"Invalid cron expression {config.get('expression')!r}: {exc}") from None
        if trigger.id in self.jobs:
            raise TriggerError(f"cron trigger '{trigger.id}' is already scheduled")
        job = CronJob(trigger, job_id, schedule)
        self.jobs[trigger.id] = job
        after = time.time()
        try:
            last_fire_ms = await self._adapter().last_fire(job_id)
        except Exception:
            self.log.exception("cannot read the cron job's last fire", job_id=job_id)
            last_fire_ms = None
        if last_fire_ms is not None:
            after = max(after, last_fire_ms / 1000)
        self._schedule_after(job, after)
        self.log.debug("cron job scheduled", job_id=job_id, expression=schedule.expression)

    async def unregister_trigger(self, trigger: Trigger) -> None:
        job = self.jobs.pop(trigger.id, None)
        if job is not None:
            job.active = False

    # -- ticking -------------------------------------------------------------------------------

    def _adapter(self) -> CronLockAdapter:
        if self.adapter is None:
            raise RuntimeError("CronModule used before iii_module_init")
        return self.adapter

    def _schedule_after(self, job: CronJob, after: float) -> None:
        due = job.schedule.next_after(after)
        if due is None:
            self.log.info("cron job has no fire time left", job_id=job.job_id)
            return
        self.wheel.schedule(due, job)

    def _due(self, job: CronJob, due: float) -> None:
        if not job.active:
            return
        task = self.engine.spawn(self._tick(job, due), name=f"cron:{job.job_id}")
        self.ticks.add(task)
        task.add_done_callback(self.ticks.discard)

    async def _tick(self, job: CronJob, due: float) -> None:
        try:
            following = job.schedule.next_after(due)
            if following is not None and following <= time.time():
                self.log.warning(
                    "cron tick skipped: a later tick is already due",
                    job_id=job.job_id,
                    scheduled_time=rfc3339(due),
                )
            else:
                await self._fire(job, due)
        finally:
            if job.active:
                self._schedule_after(job, max(time.time(), due))

    async def _fire(self, job: CronJob, due: float) -> None:
        adapter = self._adapter()
        try:
            claim = await adapter.claim(job.job_id, round(due * 1000))
        except Exception:
            self.log.exception("cron lock adapter failed, tick skipped", job_id=job.job_id)
            return
        if claim is not Claim.ACQUIRED:
            self.log.debug("cron tick not claimed", job_id=job.job_id, outcome=claim.value)
            return
        try:
            payload = {
                "trigger": TRIGGER_TYPE,
                "job_id": job.job_id,
                "scheduled_time": rfc3339(due),
                "actual_time": rfc3339(time.time()),
            }
            await self.engine.fire(job.trigger, payload, source="cron")
        finally:
            try:
                await adapter.release(job.job_id)
            except Exception:
                self.log.exception("cron lock release failed", job_id=job.job_id)
