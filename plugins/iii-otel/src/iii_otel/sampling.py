"""Trace sampling: a default ratio, first-match rules on operation and service, parent-based
decisions and an optional rate limit on new traces, as an OpenTelemetry ``Sampler``."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from iii_engine import ConfigView
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

_TRACE_ID_LIMIT = (1 << 64) - 1
_DROP = SamplingResult(Decision.DROP)
_MATCH_CACHE_LIMIT = 4096


@functools.lru_cache(maxsize=256)
def wildcard(pattern: str) -> re.Pattern[str]:
    """``*`` matches any run of characters, ``?`` one character; everything else is literal."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


@dataclass(frozen=True)
class SamplingRule:
    """``{operation?, service?, rate}``: applies when every given pattern matches."""

    rate: float
    operation: str | None = None
    service: str | None = None

    def matches(self, operation: str, service: str) -> bool:
        return (self.operation is None or wildcard(self.operation).match(operation) is not None) and (
            self.service is None or wildcard(self.service).match(service) is not None
        )

    def describe(self) -> dict[str, Any]:
        return {"operation": self.operation, "service": self.service, "rate": self.rate}


@dataclass
class SamplingSettings:
    default_ratio: float = 1.0
    rules: list[SamplingRule] = field(default_factory=list)
    parent_based: bool = True
    max_traces_per_second: float | None = None


def _rate(view: ConfigView, key: str | int, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise view.error(key, f"expected a sampling rate between 0 and 1, got {value!r}")
    return float(value)


def parse_sampling(view: ConfigView, sampling_ratio: float) -> SamplingSettings:
    """Read ``sampling:`` (``default``, ``rules``, ``parent_based``, ``rate_limit``)."""
    section = view.section("sampling")
    default = section.raw("default")
    settings = SamplingSettings(
        default_ratio=sampling_ratio if default is None else _rate(section, "default", default),
        parent_based=bool(section.bool("parent_based", True)),
    )
    for index, rule in enumerate(section.list("rules", []) or []):
        if not isinstance(rule, dict) or "rate" not in rule:
            raise section.error("rules", f"rule {index} must be a mapping with a 'rate'")
        patterns = {key: rule.get(key) for key in ("operation", "service")}
        for key, pattern in patterns.items():
            if pattern is not None and not isinstance(pattern, str):
                raise section.error("rules", f"rule {index}: '{key}' must be a string")
        settings.rules.append(SamplingRule(_rate(section, "rules", rule["rate"]), **patterns))
    limit = section.section("rate_limit").raw("max_traces_per_second")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
            raise section.error(
                "rate_limit", f"max_traces_per_second must be a positive number, got {limit!r}"
            )
        settings.max_traces_per_second = float(limit)
    return settings


class _TokenBucket:
    """At most ``rate`` acquisitions per second (bursts up to one second's worth)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.updated = time.monotonic()

    def acquire(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RuleSampler(Sampler):
    """Samples by the first matching rule's rate (else the default ratio), deciding from the
    trace id so every engine sampling the same trace agrees; follows a parent's decision when
    ``parent_based``; caps new traces per second when a rate limit is set."""

    def __init__(self, settings: SamplingSettings, service_name: str) -> None:
        self.settings = settings
        self.service_name = service_name
        self._bounds: dict[str, int] = {}
        self._limiter = (
            _TokenBucket(settings.max_traces_per_second) if settings.max_traces_per_second else None
        )

    def _bound(self, name: str) -> int:
        """The trace-id threshold for an operation (cached: rules are matched once per name)."""
        bound = self._bounds.get(name)
        if bound is None:
            rate = self.settings.default_ratio
            for rule in self.settings.rules:
                if rule.matches(name, self.service_name):
                    rate = rule.rate
                    break
            bound = round(rate * (_TRACE_ID_LIMIT + 1))
            if len(self._bounds) >= _MATCH_CACHE_LIMIT:
                self._bounds.clear()
            self._bounds[name] = bound
        return bound

    def decide(self, trace_id: int, name: str, parent_sampled: bool | None) -> bool:
        """Sample a span of operation ``name``; ``parent_sampled`` is the caller's flag, if any."""
        if self.settings.parent_based and parent_sampled is not None:
            return parent_sampled
        if trace_id & _TRACE_ID_LIMIT >= self._bound(name):
            return False
        return self._limiter is None or self._limiter.acquire()

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        parent = (
            trace.get_current_span(parent_context).get_span_context() if parent_context is not None else None
        )
        parent_sampled = parent.trace_flags.sampled if parent is not None and parent.is_valid else None
        if self.decide(trace_id, name, parent_sampled):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return _DROP

    def get_description(self) -> str:
        return f"RuleSampler(default={self.settings.default_ratio}, rules={len(self.settings.rules)})"

    def describe(self) -> dict[str, Any]:
        """The ``traces`` part of ``engine::sampling::rules``."""
        return {
            "default_ratio": self.settings.default_ratio,
            "rules": [rule.describe() for rule in self.settings.rules],
            "parent_based": self.settings.parent_based,
        }
