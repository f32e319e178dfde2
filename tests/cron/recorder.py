"""A real iii-sdk worker that registers a cron trigger and records every fire it receives."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from iii import InitOptions, register_worker
from iii.iii_constants import ReconnectionConfig


@dataclass
class Fire:
    """One invocation the worker received: who ran it, the payload, when it arrived (POSIX s)."""

    label: str
    payload: dict[str, Any]
    received_at: float

    @property
    def scheduled(self) -> float:
        return datetime.fromisoformat(self.payload["scheduled_time"]).timestamp()

    @property
    def actual(self) -> float:
        return datetime.fromisoformat(self.payload["actual_time"]).timestamp()


@dataclass
class FireLog:
    """Fires of several workers, in arrival order (handlers run on SDK threads)."""

    fires: list[Fire] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fire: Fire) -> None:
        with self.lock:
            self.fires.append(fire)

    def snapshot(self) -> list[Fire]:
        with self.lock:
            return list(self.fires)

    def wait_for(self, count: int, timeout: float) -> list[Fire]:
        deadline = time.monotonic() + timeout
        while len(self.snapshot()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        fires = self.snapshot()
        assert len(fires) >= count, f"only {len(fires)} of {count} fires within {timeout}s"
        return fires


class CronWorker:
    """An SDK worker on ``url`` with function ``function_id`` bound to a cron trigger."""

    def __init__(
        self,
        url: str,
        log: FireLog,
        trigger_config: dict[str, Any],
        *,
        label: str = "worker",
        function_id: str = "test.cron.record",
        hold_s: float = 0.0,
    ) -> None:
        self.label = label
        self.log = log
        self.hold_s = hold_s
        self.closed = False
        reconnect = ReconnectionConfig(initial_delay_ms=100, max_delay_ms=500, jitter_factor=0.0)
        self.client = register_worker(
            url,
            InitOptions(
                worker_name=label,
                enable_metrics_reporting=False,
                reconnection_config=reconnect,
                otel={"enabled": False},
            ),
        )
        self.client.register_function({"id": function_id}, self._record)
        self.trigger = self.client.register_trigger(
            {"type": "cron", "function_id": function_id, "config": trigger_config}
        )

    def _record(self, data: dict[str, Any]) -> None:
        self.log.add(Fire(self.label, data, time.time()))
        if self.hold_s:
            time.sleep(self.hold_s)

    def close(self) -> None:
        """Shut the SDK client down (idempotent)."""
        if not self.closed:
            self.closed = True
            self.client.shutdown()
