"""The interface of cron lock adapters: one claim per (job, scheduled time), fenced and locked.

Claims come in batches (every tick due at the same moment, in one round trip). A claim succeeds
only if (a) no other engine holds the job's lock and (b) the job's persisted
last fire is older than the scheduled time. A successful claim takes the lock for ``lock_ttl_ms``
and records the scheduled time as the job's last fire in the same atomic step, so a tick is
fired at most once, by one engine, even across restarts and clock skew between engines.

The lock's value is the claim's *holder*, a fresh id per claim batch (not per engine), so that
extending and releasing a lock only ever touch the claim that took it: a holder whose lock expired
and was taken again, even by this engine for another trigger sharing the job id, finds it lost.
While the job's invocation runs, the module extends the lock every ``lock_ttl_ms / 3``.
"""

from __future__ import annotations

import enum
import uuid
from typing import Protocol

DEFAULT_LOCK_TTL_MS = 30_000


class Claim(enum.Enum):
    """Outcome of :meth:`CronLockAdapter.claim`."""

    ACQUIRED = "acquired"
    ALREADY_FIRED = "already_fired"
    LOCKED = "locked"


class CronLockAdapter(Protocol):
    """What :class:`~iii_cron.module.CronModule` needs from a lock adapter."""

    lock_ttl_ms: int
    """Lifetime of a lock from its claim or its last extension."""

    async def start(self) -> None:
        """Connect or load persisted job state; raise ConfigError/OSError to fail start-up."""

    async def stop(self) -> None:
        """Flush persisted state and close connections."""

    async def claim(self, ticks: list[tuple[str, int]], holder: str) -> list[Claim]:
        """For each ``(job id, scheduled ms)``, in order: atomically take the job's lock for ``holder``
        and record the scheduled time as its last fire. A job listed twice gets ALREADY_FIRED the
        second time."""

    async def extend(self, job_id: str, holder: str) -> bool:
        """Atomically restart the job's lock TTL if ``holder`` still holds it; False if it does not."""

    async def release(self, job_id: str, holder: str) -> None:
        """Release the job's lock if ``holder`` still holds it."""

    async def last_fire(self, job_id: str) -> int | None:
        """The persisted scheduled time (ms) of the job's last claimed tick, if any."""


def new_holder() -> str:
    """A fresh lock holder id for one claim batch."""
    return str(uuid.uuid4())
