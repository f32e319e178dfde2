"""Unit tests of the pure parts: sampler, trace context parsing, OTLP/JSON decoding, store limits."""

from __future__ import annotations

import base64
import time

from iii_otel import otlp_json
from iii_otel.log_store import LogStore
from iii_otel.metric_store import MetricStore
from iii_otel.sampling import RuleSampler, SamplingRule, SamplingSettings
from iii_otel.span_store import SpanRecord, SpanStore, TraceQuery
from iii_otel.tracing import format_traceparent, parse_traceparent
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_traceparent_round_trip_and_malformed_values() -> None:
    context = parse_traceparent(f"00-{TRACE}-00f067aa0ba902b7-01")
    assert context is not None and context.sampled and context.trace_id == int(TRACE, 16)
    assert format_traceparent(context) == f"00-{TRACE}-00f067aa0ba902b7-01"
    for bad in (
        None,
        "",
        "garbage",
        f"ff-{TRACE}-00f067aa0ba902b7-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{TRACE}-zzzzzzzzzzzzzzzz-01",
        f"00-{TRACE[:-1]}-00f067aa0ba902b7-01",
    ):
        assert parse_traceparent(bad) is None


def test_sampler_rules_parent_and_rate_limit() -> None:
    settings = SamplingSettings(
        default_ratio=0.0, rules=[SamplingRule(1.0, operation="api.*", service="svc")]
    )
    sampler = RuleSampler(settings, "svc")
    assert sampler.should_sample(None, 123, "api.orders").decision is Decision.RECORD_AND_SAMPLE
    assert sampler.should_sample(None, 123, "jobs.orders").decision is Decision.DROP
    assert RuleSampler(settings, "other").should_sample(None, 123, "api.orders").decision is Decision.DROP
    remote = SpanContext(int(TRACE, 16), 1, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    parent = trace.set_span_in_context(NonRecordingSpan(remote))
    assert sampler.should_sample(parent, 123, "jobs.orders").decision is Decision.RECORD_AND_SAMPLE
    assert sampler.decide(123, "jobs.orders", parent_sampled=False) is False
    limited = RuleSampler(SamplingSettings(max_traces_per_second=2.0), "svc")
    decisions = [limited.should_sample(None, n, "x").decision for n in range(10)]
    assert decisions.count(Decision.RECORD_AND_SAMPLE) == 2


def test_ratio_decides_by_trace_id() -> None:
    sampler = RuleSampler(SamplingSettings(default_ratio=0.5), "svc")
    assert sampler.should_sample(None, 1, "x").decision is Decision.RECORD_AND_SAMPLE
    assert sampler.should_sample(None, (1 << 64) - 1, "x").decision is Decision.DROP


def test_otlp_json_spans_accept_base64_ids_numbers_and_skip_invalid() -> None:
    trace_b64 = base64.b64encode(bytes.fromhex(TRACE)).decode()
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "w"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "s"},
                        "spans": [
                            {
                                "traceId": trace_b64,
                                "spanId": "00f067aa0ba902b7",
                                "parentSpanId": "",
                                "name": "a",
                                "startTimeUnixNano": 5,
                                "endTimeUnixNano": "9",
                                "status": {"code": "STATUS_CODE_ERROR", "message": "x"},
                                "attributes": [
                                    {"key": "list", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}},
                                    {
                                        "key": "map",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [{"key": "k", "value": {"boolValue": True}}]
                                            }
                                        },
                                    },
                                ],
                            },
                            {"traceId": "nothex", "spanId": "00f067aa0ba902b7", "name": "skipped"},
                        ],
                    }
                ],
            }
        ]
    }
    [span] = otlp_json.spans(document)
    assert (span.trace_id, span.parent_span_id, span.status, span.service_name) == (TRACE, None, "error", "w")
    assert span.attributes == {"list": [1], "map": {"k": True}}
    assert span.to_json()["attributes"] == [["list", "[1]"], ["map", '{"k": true}']]


def _record(span_id: str, parent: str | None = None, name: str = "n", start: int = 0) -> SpanRecord:
    return SpanRecord(
        TRACE, span_id, parent, name, start, start + 1_000_000, attributes={"function_id": name}
    )


def test_span_store_evicts_oldest_and_builds_trees() -> None:
    store = SpanStore(max_spans=3)
    store.extend(
        [
            _record("a" * 16, name="old", start=1),
            _record("b" * 16, name="root", start=2),
            _record("c" * 16, "b" * 16, start=3),
            _record("d" * 16, "c" * 16, start=4),
        ]
    )
    assert len(store) == 3
    roots, total = store.list_roots(TraceQuery())
    assert total == 1 and roots[0].name == "root"
    [tree] = store.tree(TRACE)
    assert tree["children"][0]["children"][0]["span_id"] == "d" * 16
    assert store.list_roots(TraceQuery(name="nothing", search_all_spans=True))[1] == 0
    assert store.list_roots(TraceQuery(name="N", search_all_spans=True))[1] == 1
    assert store.list_roots(TraceQuery(attributes=[("function_id", "root")]))[1] == 1


def test_log_and_metric_stores_honour_retention() -> None:
    now = time.time_ns()
    logs = LogStore(max_count=10, retention_seconds=60)
    for age_s in (120, 30):
        logs.add({"observed_timestamp_unix_nano": now - age_s * 1_000_000_000})
    assert logs.prune(now) == 1 and len(logs) == 1
    metrics = MetricStore(max_count=2, retention_seconds=60)
    metrics.extend(
        [
            {"name": str(i), "timestamp_unix_nano": now - i * 50 * 1_000_000_000, "data_points": []}
            for i in range(3)
        ]
    )
    assert len(metrics) == 2  # max_count
    assert metrics.prune(now) == 1 and [m["name"] for m in metrics.query(None, None, None)] == ["1"]
