"""The in-memory span store: engine spans and worker-sent spans, oldest evicted first."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from iii_engine import REFERENCE_VERSION

from .values import display


@dataclass(slots=True)
class SpanEvent:
    name: str
    timestamp_unix_nano: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanLink:
    trace_id: str
    span_id: str
    trace_state: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanRecord:
    """One finished span, whatever produced it. Ids are lowercase hex."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    status: str = "unset"
    status_description: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    service_name: str = "unknown"
    events: list[SpanEvent] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)
    kind: int = 0
    scope_name: str | None = None
    scope_version: str | None = None
    flags: int | None = None
    resource: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_time_unix_nano - self.start_time_unix_nano) / 1e6

    def is_internal(self) -> bool:
        attributes = self.attributes
        function_id = attributes.get("function_id")
        return attributes.get("iii.function.kind") == "internal" or (
            isinstance(function_id, str) and function_id.startswith("engine::")
        )

    def to_json(self) -> dict[str, Any]:
        """The span object of ``engine::traces::list`` / ``tree``."""
        described: dict[str, Any] = {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "start_time_unix_nano": self.start_time_unix_nano,
            "end_time_unix_nano": self.end_time_unix_nano,
            "status": self.status,
            "attributes": attribute_pairs(self.attributes),
            "service_name": self.service_name,
            "events": [
                {
                    "name": e.name,
                    "timestamp_unix_nano": e.timestamp_unix_nano,
                    "attributes": attribute_pairs(e.attributes),
                }
                for e in self.events
            ],
            "links": [
                {
                    "trace_id": link.trace_id,
                    "span_id": link.span_id,
                    "trace_state": link.trace_state,
                    "attributes": attribute_pairs(link.attributes),
                }
                for link in self.links
            ],
        }
        if self.status_description:
            described["status_description"] = self.status_description
        if self.scope_name is not None:
            described["instrumentation_scope_name"] = self.scope_name
        if self.scope_version is not None:
            described["instrumentation_scope_version"] = self.scope_version
        if self.flags is not None:
            described["flags"] = self.flags
        return described


def function_kind(function_id: str, deferred: bool) -> str:
    """``internal`` (``engine::*``), ``worker`` or ``engine``: the ``iii.function.kind`` attribute."""
    if function_id.startswith("engine::"):
        return "internal"
    return "worker" if deferred else "engine"


ENGINE_SCOPE = ("iii", REFERENCE_VERSION)
SERVER_KIND = 1
"""``SpanKind.SERVER`` (opentelemetry-api numbering)."""


class EngineSpan(NamedTuple):
    """An engine invocation span as recorded on the hot path: atomic fields only (cheap to
    build, not tracked by the garbage collector); :meth:`to_record` expands it for queries."""

    trace_id: int
    span_id: int
    parent_span_id: int  # 0: a root span
    name: str
    start_ns: int
    end_ns: int
    deferred: bool  # executed by a worker
    source: str
    caller_worker_id: str | None
    error_code: str | None
    error_description: str | None
    service_name: str

    def to_record(self, resource: Mapping[str, Any] | None = None) -> SpanRecord:
        attributes: dict[str, Any] = {
            "function_id": self.name,
            "iii.function.kind": function_kind(self.name, self.deferred),
            "iii.invocation.source": self.source,
        }
        if self.caller_worker_id:
            attributes["iii.worker.id"] = self.caller_worker_id
        if self.error_code:
            attributes["error.code"] = self.error_code
        return SpanRecord(
            trace_id=f"{self.trace_id:032x}",
            span_id=f"{self.span_id:016x}",
            parent_span_id=f"{self.parent_span_id:016x}" if self.parent_span_id else None,
            name=self.name,
            start_time_unix_nano=self.start_ns,
            end_time_unix_nano=self.end_ns,
            status="error" if self.error_description else "unset",
            status_description=self.error_description,
            attributes=attributes,
            service_name=self.service_name,
            kind=SERVER_KIND,
            scope_name=ENGINE_SCOPE[0],
            scope_version=ENGINE_SCOPE[1],
            flags=1,
            resource=resource or {},
        )


def attribute_pairs(attributes: Mapping[str, Any]) -> list[list[str]]:
    return [[key, display(value)] for key, value in attributes.items()]


@dataclass
class TraceQuery:
    """The inputs of ``engine::traces::list`` (see ENGINE-FUNCTIONS §7.3)."""

    trace_id: str | None = None
    offset: int = 0
    limit: int = 100
    service_name: str | None = None
    name: str | None = None
    status: str | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    start_time: int | None = None
    end_time: int | None = None
    sort_by: str = "start_time"
    sort_order: str = "asc"
    attributes: list[tuple[str, str]] = field(default_factory=list)
    include_internal: bool = False
    search_all_spans: bool = False

    def keeps(self, root: SpanRecord, trace_spans: list[SpanRecord]) -> bool:
        if not self.include_internal and root.is_internal():
            return False
        if self.service_name and self.service_name.lower() not in root.service_name.lower():
            return False
        if self.name:
            needle = self.name.lower()
            candidates = trace_spans if self.search_all_spans else [root]
            if not any(needle in span.name.lower() for span in candidates):
                return False
        if self.status and self.status.lower() not in root.status:
            return False
        duration = root.duration_ms
        if self.min_duration_ms is not None and duration < self.min_duration_ms:
            return False
        if self.max_duration_ms is not None and duration > self.max_duration_ms:
            return False
        if self.start_time is not None and root.end_time_unix_nano < self.start_time * 1_000_000:
            return False
        if self.end_time is not None and root.start_time_unix_nano > self.end_time * 1_000_000:
            return False
        if self.attributes:
            shown = {key: display(value) for key, value in root.attributes.items()}
            if any(shown.get(key) != value for key, value in self.attributes):
                return False
        return True


_SORT_KEYS = {
    "duration": lambda span: span.duration_ms,
    "name": lambda span: span.name,
    "start_time": lambda span: span.start_time_unix_nano,
}


class SpanStore:
    """A bounded store of finished spans (``memory_max_spans``; the oldest is evicted)."""

    def __init__(self, max_spans: int) -> None:
        self._spans: deque[SpanRecord | EngineSpan] = deque(maxlen=max_spans)

    def __len__(self) -> int:
        return len(self._spans)

    def add(self, span: SpanRecord | EngineSpan) -> None:
        self._spans.append(span)

    def extend(self, spans: Iterable[SpanRecord]) -> None:
        self._spans.extend(spans)

    def clear(self) -> None:
        self._spans.clear()

    def spans(self) -> list[SpanRecord]:
        return [span.to_record() if isinstance(span, EngineSpan) else span for span in list(self._spans)]

    def list_roots(self, query: TraceQuery) -> tuple[list[SpanRecord], int]:
        """Root spans passing ``query`` (sorted, paged) and how many passed before paging."""
        spans = [s for s in self.spans() if query.trace_id is None or s.trace_id == query.trace_id]
        by_trace: dict[str, list[SpanRecord]] = {}
        if query.name and query.search_all_spans:
            for span in spans:
                by_trace.setdefault(span.trace_id, []).append(span)
        roots = [
            span
            for span in spans
            if span.parent_span_id is None and query.keeps(span, by_trace.get(span.trace_id, []))
        ]
        roots.sort(
            key=_SORT_KEYS.get(query.sort_by, _SORT_KEYS["start_time"]), reverse=query.sort_order == "desc"
        )
        return roots[query.offset : query.offset + query.limit], len(roots)

    def tree(self, trace_id: str) -> list[dict[str, Any]]:
        """Every span of a trace arranged by parent; spans whose parent is not stored are roots."""
        spans = [s for s in self.spans() if s.trace_id == trace_id]
        nodes = {span.span_id: {**span.to_json(), "children": []} for span in spans}
        roots = []
        for span in sorted(spans, key=lambda s: s.start_time_unix_nano):
            node = nodes[span.span_id]
            parent = nodes.get(span.parent_span_id) if span.parent_span_id else None
            if parent is None or parent is node:
                roots.append(node)
            else:
                parent["children"].append(node)
        return roots
