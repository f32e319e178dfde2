"""The engine's own counters: invocations by function and outcome, durations, workers."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from typing import Any

from .metric_store import percentile

DURATION_BOUNDS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
RECENT_DURATIONS = 10_000


class FunctionStats:
    """Counts and a duration histogram of one function id."""

    __slots__ = ("buckets", "deferred", "error", "success", "sum_s")

    def __init__(self) -> None:
        self.success = 0
        self.error = 0
        self.deferred = 0
        self.sum_s = 0.0
        self.buckets = [0] * (len(DURATION_BOUNDS_S) + 1)


class EngineMetrics:
    """Updated by the invocation middleware and the worker hooks; read by queries and exporters.

    Unlike the reference, which cannot see the outcome of calls handed to workers, ``success``
    and ``error`` count every invocation; ``deferred`` counts the part executed by workers.
    """

    def __init__(self) -> None:
        self.functions: dict[str, FunctionStats] = {}
        self.recent_ms: deque[float] = deque(maxlen=RECENT_DURATIONS)
        self.worker_spawns = 0
        self.worker_deaths = 0
        self.workers_active = 0

    def record(self, function_id: str, duration_s: float, ok: bool, deferred: bool) -> None:
        stats = self.functions.get(function_id)
        if stats is None:
            stats = self.functions[function_id] = FunctionStats()
        if ok:
            stats.success += 1
        else:
            stats.error += 1
        if deferred:
            stats.deferred += 1
        stats.sum_s += duration_s
        stats.buckets[bisect_left(DURATION_BOUNDS_S, duration_s)] += 1
        self.recent_ms.append(duration_s * 1000.0)

    def totals(self) -> dict[str, int]:
        success = sum(s.success for s in self.functions.values())
        error = sum(s.error for s in self.functions.values())
        deferred = sum(s.deferred for s in self.functions.values())
        return {"total": success + error, "success": success, "error": error, "deferred": deferred}

    def counter(self, name: str) -> float | None:
        """An engine counter by its alert name (``iii.invocations.error``, ``iii.workers.active`` …)."""
        totals = self.totals()
        values: dict[str, float] = {f"iii.invocations.{key}": value for key, value in totals.items()}
        values.update(
            {
                "iii.workers.spawns": self.worker_spawns,
                "iii.workers.deaths": self.worker_deaths,
                "iii.workers.active": self.workers_active,
            }
        )
        return values.get(name)

    def performance(self) -> dict[str, float]:
        durations = sorted(self.recent_ms)
        if not durations:
            return {f"{key}_duration_ms": 0.0 for key in ("avg", "p50", "p95", "p99", "min", "max")}
        return {
            "avg_duration_ms": sum(durations) / len(durations),
            "p50_duration_ms": percentile(durations, 0.50),
            "p95_duration_ms": percentile(durations, 0.95),
            "p99_duration_ms": percentile(durations, 0.99),
            "min_duration_ms": durations[0],
            "max_duration_ms": durations[-1],
        }

    def describe(self) -> dict[str, Any]:
        """The ``engine_metrics`` object of ``engine::metrics::list``."""
        return {
            "invocations": {
                **self.totals(),
                "by_function": {fid: s.success + s.error for fid, s in self.functions.items()},
            },
            "workers": {
                "spawns": self.worker_spawns,
                "deaths": self.worker_deaths,
                "active": self.workers_active,
            },
            "performance": self.performance(),
        }
