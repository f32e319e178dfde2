"""The in-memory log store: engine-written and worker-sent records, bounded by count and age."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .retention import RetainedRecords

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


class LogStore(RetainedRecords):
    """Log records, bounded by ``logs_max_count`` and ``logs_retention_seconds``."""

    time_key = "observed_timestamp_unix_nano"

    def query(self, query: LogQuery) -> tuple[list[dict[str, Any]], int]:
        """Matching records, newest first, paged; and the number of matches before paging."""
        matches = [record for record in reversed(self._records) if query.keeps(record)]
        end = None if query.limit is None else query.offset + query.limit
        return matches[query.offset : end], len(matches)
