"""A bounded, time-limited collection of telemetry records (the log and metric stores)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import Any


class RetainedRecords:
    """At most ``max_count`` records (the oldest evicted on overflow); :meth:`prune` drops those
    whose ``time_key`` (epoch ns) is older than ``retention_seconds``, in whatever order they came."""

    time_key = "timestamp_unix_nano"

    def __init__(self, max_count: int, retention_seconds: int) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=max_count)
        self.retention_ns = retention_seconds * 1_000_000_000

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: dict[str, Any]) -> None:
        self._records.append(record)

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        self._records.extend(records)

    def clear(self) -> None:
        self._records.clear()

    def prune(self, now_ns: int | None = None) -> int:
        """Drop records past the retention; returns how many were dropped."""
        cutoff = (now_ns or time.time_ns()) - self.retention_ns
        kept = [record for record in self._records if record[self.time_key] >= cutoff]
        dropped = len(self._records) - len(kept)
        if dropped:
            self._records = deque(kept, maxlen=self._records.maxlen)
        return dropped
