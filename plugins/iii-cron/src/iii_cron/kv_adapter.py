"""``modules::cron::KvCronAdapter``: locks inside this engine process, job state in memory or a file.

Locks are entries ``{holder, expires_at_ms}`` per job id, shared by the triggers of this engine
only; claims, extensions and releases run on the event loop without awaiting, so each is atomic.
With ``store_method: file_based`` the last fire of every job is written to
``<file_path>/<lock_index>.json`` every ``save_interval_ms`` (and at shutdown) and read at
start-up, so a restarted engine does not fire a tick it already fired.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iii_engine import ConfigView, Engine

from .locks import DEFAULT_LOCK_TTL_MS, Claim


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class LockEntry:
    holder: str
    expires_at_ms: int


class JobStateFile:
    """The ``{job id: last fire ms}`` map persisted as JSON, written atomically when dirty."""

    def __init__(self, path: Path, log: Any) -> None:
        self.path = path
        self.log = log
        self.dirty = False

    def load(self) -> dict[str, int]:
        try:
            document = json.loads(self.path.read_text())
            return {str(job): int(ms) for job, ms in document["last_fire_ms"].items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            corrupt = self.path.with_suffix(".corrupt")
            os.replace(self.path, corrupt)
            self.log.warning("cron job state unreadable, moved aside", path=str(corrupt), error=str(exc))
            return {}

    def write(self, last_fire: dict[str, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"last_fire_ms": last_fire}))
        os.replace(temporary, self.path)


class KvCronAdapter:
    """Process-local cron locks with optional file persistence of each job's last fire."""

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        self.lock_ttl_ms: int = config.int("lock_ttl_ms", DEFAULT_LOCK_TTL_MS, minimum=1)
        self.lock_index: str = config.str("lock_index", "cron_locks")
        store_method = config.str("store_method", "in_memory")
        file_path = config.str("file_path", "kv_store_data.db")
        self.save_interval_s = config.int("save_interval_ms", 5000, minimum=1) / 1000
        config.reject_unknown()
        if store_method not in ("in_memory", "file_based"):
            raise config.error("store_method", f"expected 'in_memory' or 'file_based', got {store_method!r}")
        self.engine = engine
        self.log = engine.logger("iii::modules::cron")
        self.locks: dict[str, LockEntry] = {}
        self.last_fire_ms: dict[str, int] = {}
        self.state_file: JobStateFile | None = None
        if store_method == "file_based":
            self.state_file = JobStateFile(Path(file_path) / f"{self.lock_index}.json", self.log)
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.state_file is not None:
            self.last_fire_ms = self.state_file.load()
            self._flusher = self.engine.spawn(self._flush_periodically(), name="cron-state-flush")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self._flush()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.save_interval_s)
            try:
                await self._flush()
            except OSError as exc:
                self.log.error("cannot save cron job state", error=str(exc))

    async def _flush(self) -> None:
        if self.state_file is None or not self.state_file.dirty:
            return
        self.state_file.dirty = False
        try:
            await asyncio.to_thread(self.state_file.write, dict(self.last_fire_ms))
        except OSError:
            self.state_file.dirty = True  # retried at the next interval
            raise

    async def claim(self, ticks: list[tuple[str, int]], holder: str) -> list[Claim]:
        now = now_ms()
        return [self._claim(job_id, scheduled_ms, holder, now) for job_id, scheduled_ms in ticks]

    def _claim(self, job_id: str, scheduled_ms: int, holder: str, now: int) -> Claim:
        if self.last_fire_ms.get(job_id, -1) >= scheduled_ms:
            return Claim.ALREADY_FIRED
        lock = self.locks.get(job_id)
        if lock is not None and lock.expires_at_ms > now:
            return Claim.LOCKED
        self.locks[job_id] = LockEntry(holder, now + self.lock_ttl_ms)
        self.last_fire_ms[job_id] = scheduled_ms
        if self.state_file is not None:
            self.state_file.dirty = True
        return Claim.ACQUIRED

    async def extend(self, job_id: str, holder: str) -> bool:
        lock = self.locks.get(job_id)
        now = now_ms()
        if lock is None or lock.holder != holder or lock.expires_at_ms <= now:
            return False  # an expired lock counts as lost, as in Redis
        lock.expires_at_ms = now + self.lock_ttl_ms
        return True

    async def release(self, job_id: str, holder: str) -> None:
        lock = self.locks.get(job_id)
        if lock is not None and lock.holder == holder:
            del self.locks[job_id]

    async def last_fire(self, job_id: str) -> int | None:
        return self.last_fire_ms.get(job_id)


def create(engine: Engine, config: ConfigView) -> KvCronAdapter:
    """Entry point ``modules::cron::KvCronAdapter``."""
    return KvCronAdapter(engine, config)
