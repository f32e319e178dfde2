"""Decoding the OTLP/JSON documents that workers send in ``OTLP``, ``LOGS`` and ``MTRC`` frames.

Both SDKs write ids as lowercase hex and nanosecond times as decimal strings; numbers are
accepted too, and base64 ids (standard protobuf JSON) are converted to hex.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterator
from typing import Any

from .span_store import SpanEvent, SpanLink, SpanRecord
from .values import display

_STATUS_CODES = {
    0: "unset",
    1: "ok",
    2: "error",
    "STATUS_CODE_UNSET": "unset",
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
}
_ZERO_IDS = {"0" * 32, "0" * 16}


class FrameError(ValueError):
    """The document does not have the shape of an OTLP export request."""


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` object as a plain Python value."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return integer(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    """An OTLP ``KeyValue`` list as a dict."""
    if not isinstance(items, list):
        return {}
    return {
        item["key"]: any_value(item.get("value"))
        for item in items
        if isinstance(item, dict) and "key" in item
    }


def integer(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return int(float(value))


def hex_id(value: Any, length: int) -> str | None:
    """A trace (32) or span (16) id as lowercase hex; ``None`` when absent or all zeros."""
    if not isinstance(value, str) or not value:
        return None
    text = value.lower()
    if len(text) != length or any(c not in "0123456789abcdef" for c in text):
        try:
            text = base64.b64decode(value, validate=True).hex()
        except (binascii.Error, ValueError):
            return None
        if len(text) != length:
            return None
    return None if text in _ZERO_IDS else text


def _resource_scopes(
    document: Any, resource_key: str, scope_key: str, items_key: str
) -> Iterator[tuple[dict[str, Any], dict[str, Any], list[Any]]]:
    """(resource attributes, scope, items) of every scope block of an export request."""
    if not isinstance(document, dict) or not isinstance(document.get(resource_key, []), list):
        raise FrameError(f"expected an object with a '{resource_key}' list")
    for resource_block in document.get(resource_key) or []:
        if not isinstance(resource_block, dict):
            continue
        resource = attributes((resource_block.get("resource") or {}).get("attributes"))
        for scope_block in resource_block.get(scope_key) or []:
            if isinstance(scope_block, dict):
                scope = scope_block.get("scope") or {}
                items = scope_block.get(items_key) or []
                yield (
                    resource,
                    scope if isinstance(scope, dict) else {},
                    items if isinstance(items, list) else [],
                )


def _scope_text(scope: dict[str, Any], key: str) -> str | None:
    value = scope.get(key)
    return value if isinstance(value, str) and value else None


def spans(document: Any) -> list[SpanRecord]:
    """The spans of an ``ExportTraceServiceRequest``; spans without valid ids are skipped."""
    records = []
    for resource, scope, items in _resource_scopes(document, "resourceSpans", "scopeSpans", "spans"):
        service = str(resource.get("service.name", "unknown"))
        for item in items:
            if not isinstance(item, dict):
                continue
            trace_id, span_id = hex_id(item.get("traceId"), 32), hex_id(item.get("spanId"), 16)
            if trace_id is None or span_id is None:
                continue
            status = item.get("status") or {}
            records.append(
                SpanRecord(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=hex_id(item.get("parentSpanId"), 16),
                    name=str(item.get("name", "")),
                    start_time_unix_nano=integer(item.get("startTimeUnixNano")),
                    end_time_unix_nano=integer(item.get("endTimeUnixNano")),
                    status=_STATUS_CODES.get(status.get("code", 0), "unset"),
                    status_description=status.get("message") or None,
                    attributes=attributes(item.get("attributes")),
                    service_name=service,
                    events=[
                        SpanEvent(
                            str(e.get("name", "")),
                            integer(e.get("timeUnixNano")),
                            attributes(e.get("attributes")),
                        )
                        for e in item.get("events") or []
                        if isinstance(e, dict)
                    ],
                    links=[
                        SpanLink(
                            hex_id(link.get("traceId"), 32) or "",
                            hex_id(link.get("spanId"), 16) or "",
                            link.get("traceState") or None,
                            attributes(link.get("attributes")),
                        )
                        for link in item.get("links") or []
                        if isinstance(link, dict)
                    ],
                    kind=integer(item.get("kind")),
                    scope_name=_scope_text(scope, "name"),
                    scope_version=_scope_text(scope, "version"),
                    flags=integer(item["flags"]) if "flags" in item else None,
                    resource=resource,
                )
            )
    return records


def logs(document: Any) -> list[dict[str, Any]]:
    """The records of an ``ExportLogsServiceRequest`` in the shape ``engine::logs::list`` returns."""
    records = []
    now = time.time_ns()
    for resource, scope, items in _resource_scopes(document, "resourceLogs", "scopeLogs", "logRecords"):
        for item in items:
            if not isinstance(item, dict):
                continue
            timestamp = integer(item.get("timeUnixNano")) or integer(item.get("observedTimeUnixNano")) or now
            records.append(
                {
                    "timestamp_unix_nano": timestamp,
                    "observed_timestamp_unix_nano": integer(item.get("observedTimeUnixNano")) or now,
                    "severity_number": integer(item.get("severityNumber")),
                    "severity_text": str(item.get("severityText") or ""),
                    "body": any_value(item.get("body")) if item.get("body") is not None else "",
                    "attributes": attributes(item.get("attributes")),
                    "trace_id": hex_id(item.get("traceId"), 32),
                    "span_id": hex_id(item.get("spanId"), 16),
                    "resource": {key: display(value) for key, value in resource.items()},
                    "service_name": str(resource.get("service.name", "unknown")),
                    "instrumentation_scope_name": _scope_text(scope, "name"),
                    "instrumentation_scope_version": _scope_text(scope, "version"),
                }
            )
    return records


def _number_point(point: dict[str, Any]) -> dict[str, Any]:
    value: float | int = integer(point["asInt"]) if "asInt" in point else float(point.get("asDouble") or 0.0)
    return {
        "value": value,
        "attributes": [[k, display(v)] for k, v in attributes(point.get("attributes")).items()],
        "timestamp_unix_nano": integer(point.get("timeUnixNano")),
    }


def _histogram_point(point: dict[str, Any]) -> dict[str, Any]:
    return {
        "count": integer(point.get("count")),
        "sum": float(point.get("sum") or 0.0),
        "bucket_counts": [integer(c) for c in point.get("bucketCounts") or []],
        "explicit_bounds": [float(b) for b in point.get("explicitBounds") or []],
        "min": float(point.get("min") or 0.0),
        "max": float(point.get("max") or 0.0),
        "attributes": [[k, display(v)] for k, v in attributes(point.get("attributes")).items()],
        "timestamp_unix_nano": integer(point.get("timeUnixNano")),
    }


def metrics(document: Any) -> list[dict[str, Any]]:
    """The metrics of an ``ExportMetricsServiceRequest`` as stored metric objects."""
    stored = []
    now = time.time_ns()
    for resource, scope, items in _resource_scopes(document, "resourceMetrics", "scopeMetrics", "metrics"):
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            if isinstance(item.get("histogram"), dict):
                kind, points = (
                    "histogram",
                    [_histogram_point(p) for p in item["histogram"].get("dataPoints") or []],
                )
            elif isinstance(item.get("sum"), dict):
                kind = "counter" if item["sum"].get("isMonotonic") else "updowncounter"
                points = [_number_point(p) for p in item["sum"].get("dataPoints") or []]
            elif isinstance(item.get("gauge"), dict):
                kind, points = "gauge", [_number_point(p) for p in item["gauge"].get("dataPoints") or []]
            else:
                continue
            metric: dict[str, Any] = {
                "name": item["name"],
                "description": str(item.get("description") or ""),
                "unit": str(item.get("unit") or ""),
                "metric_type": kind,
                "data_points": points,
                "service_name": str(resource.get("service.name", "unknown")),
                "timestamp_unix_nano": max((p["timestamp_unix_nano"] for p in points), default=0) or now,
            }
            if _scope_text(scope, "name"):
                metric["instrumentation_scope_name"] = scope["name"]
            if _scope_text(scope, "version"):
                metric["instrumentation_scope_version"] = scope["version"]
            metric["resource"] = resource
            stored.append(metric)
    return stored
