"""Stored worker metrics (``MTRC`` frames): bounded by count and age, with on-the-fly rollups."""

from __future__ import annotations

import math
import time
from typing import Any

from .retention import RetainedRecords

ROLLUP_LEVELS_S = (60, 300, 3600)
"""Rollup level 0, 1, 2: 1 minute, 5 minutes, 1 hour buckets."""

_PERCENTILES = (("p50", 0.50), ("p75", 0.75), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99))


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


class MetricStore(RetainedRecords):
    """Stored worker metrics, bounded by ``metrics_max_count`` and ``metrics_retention_seconds``."""

    def query(self, start_ns: int | None, end_ns: int | None, name: str | None) -> list[dict[str, Any]]:
        return [
            metric
            for metric in self._records
            if (name is None or metric["name"] == name)
            and (start_ns is None or metric["timestamp_unix_nano"] >= start_ns)
            and (end_ns is None or metric["timestamp_unix_nano"] <= end_ns)
        ]

    def latest_value(self, name: str, window_seconds: int) -> float | None:
        """The newest number point of ``name`` within the window (alerts)."""
        cutoff = time.time_ns() - window_seconds * 1_000_000_000
        for metric in reversed(self._records):
            if metric["name"] != name or metric["timestamp_unix_nano"] < cutoff:
                continue
            for point in reversed(metric["data_points"]):
                if "value" in point:
                    return float(point["value"])
                return float(point["sum"])
        return None

    def rollups(
        self, start_ns: int, end_ns: int, bucket_s: int, name: str | None
    ) -> tuple[list[Any], list[Any]]:
        """Number rollups and histogram rollups of the stored points in fixed-size time buckets."""
        bucket_ns = bucket_s * 1_000_000_000
        numbers: dict[tuple[str, int], list[float]] = {}
        histograms: dict[tuple[str, int, tuple[float, ...]], dict[str, Any]] = {}
        for metric in self.query(start_ns, end_ns, name):
            for point in metric["data_points"]:
                timestamp = point["timestamp_unix_nano"] or metric["timestamp_unix_nano"]
                bucket = timestamp - timestamp % bucket_ns
                if "value" in point:
                    numbers.setdefault((metric["name"], bucket), []).append(float(point["value"]))
                    continue
                key = (metric["name"], bucket, tuple(point["explicit_bounds"]))
                merged = histograms.setdefault(
                    key,
                    {
                        "name": metric["name"],
                        "bucket_start_ns": bucket,
                        "bucket_end_ns": bucket + bucket_ns,
                        "total_count": 0,
                        "total_sum": 0.0,
                        "min": math.inf,
                        "max": -math.inf,
                        "bucket_counts": [0] * len(point["bucket_counts"]),
                        "explicit_bounds": point["explicit_bounds"],
                    },
                )
                merged["total_count"] += point["count"]
                merged["total_sum"] += point["sum"]
                merged["min"] = min(merged["min"], point["min"])
                merged["max"] = max(merged["max"], point["max"])
                counts = merged["bucket_counts"]
                for index, count in enumerate(point["bucket_counts"][: len(counts)]):
                    counts[index] += count
        rollups = []
        for (metric_name, bucket), values in sorted(
            numbers.items(), key=lambda item: (item[0][1], item[0][0])
        ):
            values.sort()
            total = sum(values)
            rollups.append(
                {
                    "name": metric_name,
                    "bucket_start_ns": bucket,
                    "bucket_end_ns": bucket + bucket_ns,
                    "count": len(values),
                    "sum": total,
                    "min": values[0],
                    "max": values[-1],
                    "avg": total / len(values),
                    "percentiles": {label: percentile(values, fraction) for label, fraction in _PERCENTILES},
                }
            )
        return rollups, sorted(histograms.values(), key=lambda h: (h["bucket_start_ns"], h["name"]))
