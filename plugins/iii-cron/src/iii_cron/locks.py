"""The interface of cron lock adapters: one claim per (job, scheduled time), fenced and locked.

Claims come in batches (every tick due at the same moment, in one round trip). A claim succeeds
only if (a) no other engine holds the job's lock and (b) the job's persisted
last fire is older than the scheduled time. A successful claim takes the lock for ``lock_ttl_ms``
and records the scheduled time as the job's last fire in the same atomic step, so a tick is
fired at most once, by one engine, even across restarts and clock skew between engines.
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

    owner: str
    """This engine instance's id, stored as the lock's value."""

    async def start(self) -> None:
        """Connect or load persisted job state; raise ConfigError/OSError to fail start-up."""

    async def stop(self) -> None:
        """Flush persisted state and close connections."""

    async def claim(self, ticks: list[tuple[str, int]]) -> list[Claim]:
        """For each ``(job id, scheduled ms)``, in order: atomically take the job's lock and record
        the scheduled time as its last fire. A job listed twice gets ALREADY_FIRED the second time."""

    async def release(self, job_id: str) -> None:
        """Release the job's lock if this instance still holds it."""

    async def last_fire(self, job_id: str) -> int | None:
        """The persisted scheduled time (ms) of the job's last claimed tick, if any."""


def instance_owner() -> str:
    """A fresh owner id for one engine process."""
    return str(uuid.uuid4())
