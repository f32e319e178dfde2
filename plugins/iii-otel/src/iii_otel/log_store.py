"""The in-memory log store: engine-written and worker-sent records, bounded by count and age."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

SEVERITIES = {
    "trace": (1, "TRACE"),
    "debug": (5, "DEBUG"),
    "info": (9, "INFO"),
    "warn": (13, "WARN"),
    "error": (17, "ERROR"),
}


@dataclass
class LogQuery:
    """The inputs of ``engine::logs::list``."""

    start_time: int | None = None
    end_time: int | None = None
    trace_id: str | None = None
    span_id: str | None = None
    severity_min: int | None = None
    severity_text: str | None = None
    offset: int = 0
    limit: int | None = None

    def keeps(self, record: dict[str, Any]) -> bool:
        timestamp = record["timestamp_unix_nano"]
        if self.start_time is not None and timestamp < self.start_time * 1_000_000:
            return False
        if self.end_time is not None and timestamp > self.end_time * 1_000_000:
            return False
        if self.trace_id is not None and record["trace_id"] != self.trace_id:
            return False
        if self.span_id is not None and record["span_id"] != self.span_id:
            return False
        if self.severity_min is not None and record["severity_number"] < self.severity_min:
            return False
        return self.severity_text is None or record["severity_text"].lower() == self.severity_text.lower()


class LogStore:
    """At most ``max_count`` records (oldest evicted); records older than the retention are pruned."""

    def __init__(self, max_count: int, retention_seconds: int) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=max_count)
        self.retention_ns = retention_seconds * 1_000_000_000

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: dict[str, Any]) -> None:
        self._records.append(record)

    def clear(self) -> None:
        self._records.clear()

    def prune(self, now_ns: int | None = None) -> int:
        """Drop records past the retention; returns how many were dropped."""
        cutoff = (now_ns or time.time_ns()) - self.retention_ns
        kept = [item for item in self._records if item["observed_timestamp_unix_nano"] >= cutoff]
        dropped = len(self._records) - len(kept)
        if dropped:
            self._records = deque(kept, maxlen=self._records.maxlen)
        return dropped

    def query(self, query: LogQuery) -> tuple[list[dict[str, Any]], int]:
        """Matching records, newest first, paged; and the number of matches before paging."""
        matches = [record for record in reversed(self._records) if query.keeps(record)]
        end = None if query.limit is None else query.offset + query.limit
        return matches[query.offset : end], len(matches)
