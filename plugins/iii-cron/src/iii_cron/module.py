"""``modules::cron::CronModule``: the ``cron`` trigger type, fired once per tick across engines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from iii_engine import ConfigView, Engine, Module, Trigger, TriggerError, hookimpl

from .expression import CronExpressionError, CronSchedule, parse
from .locks import Claim, CronLockAdapter, new_holder
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
    adapter (lock + persisted last fire), then the condition and the function run, awaited, with
    the lock extended every ``lock_ttl_ms / 3``; then the lock is released and the next tick after
    *now* is scheduled (ticks that pass meanwhile are skipped)."""

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

    def _track(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = self.engine.spawn(coroutine, name=name)
        self.ticks.add(task)
        task.add_done_callback(self.ticks.discard)

    def _due(self, batch: list[tuple[CronJob, float]]) -> None:
        ticks = [(job, due) for job, due in batch if job.active]
        if ticks:
            self._track(self._fire_batch(ticks), name="cron:tick")

    def _reschedule(self, job: CronJob, due: float) -> None:
        if job.active:
            self._schedule_after(job, max(time.time(), due))

    async def _fire_batch(self, batch: list[tuple[CronJob, float]]) -> None:
        """Claim every tick of the batch at once, start the claimed ones, reschedule the rest."""
        on_time, passed = [], []
        now = time.time()
        for job, due in batch:
            (passed if self._superseded(job, due, now) else on_time).append((job, due))
        holder = new_holder()
        try:
            ticks = [(job.job_id, round(due * 1000)) for job, due in on_time]
            claims = await self._adapter().claim(ticks, holder) if ticks else []
        except Exception:
            self.log.exception("cron lock adapter failed, ticks skipped", jobs=len(on_time))
            claims = [None] * len(on_time)
        for (job, due), claim in zip(on_time, claims, strict=True):
            if claim is Claim.ACQUIRED:
                self._track(self._run(job, due, self._event(job, due), holder), name=f"cron:{job.job_id}")
            else:
                self.log.debug("cron tick not claimed", job_id=job.job_id, outcome=claim and claim.value)
                passed.append((job, due))
        for job, due in passed:
            self._reschedule(job, due)

    def _superseded(self, job: CronJob, due: float, now: float) -> bool:
        """Whether a later tick of the job is already due (the engine fell behind): skip this one."""
        if now - due < 1.0:  # fire times are whole seconds: nothing later can be due yet
            return False
        following = job.schedule.next_after(due)
        if following is None or following > now:
            return False
        self.log.warning(
            "cron tick skipped: a later tick is already due", job_id=job.job_id, scheduled_time=rfc3339(due)
        )
        return True

    @staticmethod
    def _event(job: CronJob, due: float) -> dict[str, Any]:
        return {
            "trigger": TRIGGER_TYPE,
            "job_id": job.job_id,
            "scheduled_time": rfc3339(due),
            "actual_time": rfc3339(time.time()),
        }

    async def _run(self, job: CronJob, due: float, event: dict[str, Any], holder: str) -> None:
        """Condition and function, awaited while the lock is kept; then release the lock and
        schedule the next tick."""
        keeper = asyncio.create_task(self._keep_lock(job, holder), name=f"cron-lock:{job.job_id}")
        try:
            await self.engine.fire(job.trigger, event, source="cron")
        finally:
            keeper.cancel()
            await asyncio.wait([keeper])
            try:
                await self._adapter().release(job.job_id, holder)
            except Exception:
                self.log.exception("cron lock release failed", job_id=job.job_id)
            self._reschedule(job, due)

    async def _keep_lock(self, job: CronJob, holder: str) -> None:
        """Extend the job's lock every third of its TTL until cancelled or the lock is found lost."""
        adapter = self._adapter()
        while True:
            await asyncio.sleep(adapter.lock_ttl_ms / 3000)
            try:
                held = await adapter.extend(job.job_id, holder)
            except Exception as exc:  # the lock may survive until the next attempt
                self.log.warning("cron lock renewal failed", job_id=job.job_id, error=repr(exc))
                continue
            if not held:
                self.log.warning(
                    "cron lock lost during the invocation: another run of the job may start",
                    job_id=job.job_id,
                    trigger_id=job.trigger.id,
                    function_id=job.trigger.function_id,
                )
                return
