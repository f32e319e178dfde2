"""The OtelModule configuration: YAML keys first, then the reference's environment variables, then defaults.

The module's config is lenient (unknown keys are ignored), but a key of the wrong type is a
startup error naming the file and line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iii_engine import ConfigView

from .alerts import AlertRule, parse_alert_rules
from .sampling import SamplingSettings, parse_sampling

TRACE_EXPORTERS = ("otlp", "memory", "both")
SIGNAL_EXPORTERS = ("memory", "otlp", "both")
OTLP_PROTOCOLS = ("grpc", "http/protobuf")
DEFAULT_PROMETHEUS_PORT = 9464


@dataclass
class OtelSettings:
    """Everything the module reads from its config entry (see docs/otel.md for each key)."""

    enabled: bool = False
    service_name: str = "iii"
    service_version: str = "unknown"
    service_namespace: str | None = None
    exporter: str = "otlp"
    endpoint: str = "http://localhost:4317"
    protocol: str = "grpc"
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    memory_max_spans: int = 1000
    metrics_enabled: bool = False
    metrics_exporter: str = "memory"
    metrics_retention_seconds: int = 3600
    metrics_max_count: int = 10000
    metrics_export_interval_ms: int = 60000
    logs_exporter: str = "memory"
    logs_max_count: int = 1000
    logs_retention_seconds: int = 3600
    logs_batch_size: int = 100
    logs_flush_interval_ms: int = 5000
    logs_sampling_ratio: float = 1.0
    logs_console_output: bool = True
    alerts: list[AlertRule] = field(default_factory=list)
    prometheus_enabled: bool = True
    prometheus_host: str = "0.0.0.0"
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT
    prometheus_port_explicit: bool = False
    queue_depth_function: str | None = "queue::stats"
    deployment_environment: str | None = None

    @property
    def memory_spans(self) -> bool:
        """Engine spans are kept in memory (``memory`` or ``both``)."""
        return self.enabled and self.exporter in ("memory", "both")

    @property
    def otlp_spans(self) -> bool:
        return self.enabled and self.exporter in ("otlp", "both")

    @property
    def span_store_exists(self) -> bool:
        """A span store exists whenever tracing is on (with ``otlp`` it keeps worker spans)."""
        return self.enabled


class _Reader:
    """Typed reads of one key: YAML value, else an environment variable, else the default."""

    def __init__(self, view: ConfigView, environ: Mapping[str, str]) -> None:
        self.view = view
        self.environ = environ

    def _env(self, name: str | None) -> str | None:
        if name is None:
            return None
        value = self.environ.get(name)
        return value if value not in (None, "") else None

    def bool(self, key: str, env: str | None, default: bool) -> bool:
        if key in self.view:
            return bool(self.view.bool(key, default))
        raw = self._env(env)
        return default if raw is None else raw.strip().lower() in ("true", "1")

    def str(self, key: str, env: str | None, default: Any) -> Any:
        if key in self.view and self.view.raw(key) is not None:
            return self.view.str(key)
        raw = self._env(env)
        return default if raw is None else raw

    def int(self, key: str, env: str | None, default: int, *, low: int = 0, high: int | None = None) -> int:
        value: Any
        if key in self.view and self.view.raw(key) is not None:
            value = self.view.int(key)
        else:
            raw = self._env(env)
            try:
                value = default if raw is None else int(raw)
            except ValueError:
                raise self.view.error(key, f"environment variable {env}={raw!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            limit = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.view.error(key, f"must be {limit}, got {value}")
        return value

    def ratio(self, key: str, env: str | None, default: float) -> float:
        value: Any
        if key in self.view and self.view.raw(key) is not None:
            value = self.view.float(key)
        else:
            raw = self._env(env)
            try:
                value = default if raw is None else float(raw)
            except ValueError:
                raise self.view.error(key, f"environment variable {env}={raw!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise self.view.error(key, f"must be between 0 and 1, got {value}")
        return value

    def choice(self, key: str, env: str | None, default: str, choices: tuple[str, ...]) -> str:
        value = str(self.str(key, env, default)).strip().lower()
        if value not in choices:
            raise self.view.error(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value


def load_settings(view: ConfigView, environ: Mapping[str, str] | None = None) -> OtelSettings:
    """Parse the module config (``level``/``format`` belong to the kernel's logging setup)."""
    env = os.environ if environ is None else environ
    read = _Reader(view, env)
    for key in ("level", "log_level", "format", "logs_enabled"):
        view.raw(key)
    exporter_env = read._env("OTEL_EXPORTER_TYPE")
    exporter_default = (
        exporter_env.lower() if exporter_env and exporter_env.lower() in TRACE_EXPORTERS else "otlp"
    )
    settings = OtelSettings(
        enabled=read.bool("enabled", "OTEL_ENABLED", False),
        service_name=read.str("service_name", "OTEL_SERVICE_NAME", "iii"),
        service_version=read.str("service_version", "SERVICE_VERSION", "unknown"),
        service_namespace=read.str("service_namespace", "SERVICE_NAMESPACE", None),
        exporter=read.choice("exporter", None, exporter_default, TRACE_EXPORTERS),
        endpoint=read.str("endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317"),
        protocol=read.choice("protocol", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", OTLP_PROTOCOLS),
        memory_max_spans=read.int("memory_max_spans", "OTEL_MEMORY_MAX_SPANS", 1000, low=1),
        metrics_enabled=read.bool("metrics_enabled", "OTEL_METRICS_ENABLED", False),
        metrics_exporter=read.choice("metrics_exporter", "OTEL_METRICS_EXPORTER", "memory", SIGNAL_EXPORTERS),
        metrics_retention_seconds=read.int(
            "metrics_retention_seconds", "OTEL_METRICS_RETENTION_SECONDS", 3600, low=1
        ),
        metrics_max_count=read.int("metrics_max_count", "OTEL_METRICS_MAX_COUNT", 10000, low=1),
        metrics_export_interval_ms=read.int(
            "metrics_export_interval_ms", "OTEL_METRIC_EXPORT_INTERVAL", 60000, low=100
        ),
        logs_exporter=read.choice("logs_exporter", "OTEL_LOGS_EXPORTER", "memory", SIGNAL_EXPORTERS),
        logs_max_count=read.int("logs_max_count", None, 1000, low=1),
        logs_retention_seconds=read.int("logs_retention_seconds", None, 3600, low=1),
        logs_batch_size=read.int("logs_batch_size", "OTEL_LOGS_BATCH_SIZE", 100, low=1, high=10000),
        logs_flush_interval_ms=read.int(
            "logs_flush_interval_ms", "OTEL_LOGS_FLUSH_INTERVAL_MS", 5000, low=100, high=3_600_000
        ),
        logs_sampling_ratio=read.ratio("logs_sampling_ratio", None, 1.0),
        logs_console_output=read.bool("logs_console_output", None, True),
        prometheus_enabled=read.bool("prometheus_enabled", "OTEL_PROMETHEUS_ENABLED", True),
        prometheus_host=read.str("prometheus_host", None, "0.0.0.0"),
        prometheus_port=read.int(
            "prometheus_port", "OTEL_PROMETHEUS_PORT", DEFAULT_PROMETHEUS_PORT, high=65535
        ),
        prometheus_port_explicit="prometheus_port" in view or read._env("OTEL_PROMETHEUS_PORT") is not None,
        queue_depth_function=read.str("queue_depth_function", None, "queue::stats"),
        deployment_environment=read._env("DEPLOYMENT_ENVIRONMENT"),
    )
    settings.sampling = parse_sampling(view, read.ratio("sampling_ratio", "OTEL_TRACES_SAMPLER_ARG", 1.0))
    settings.alerts = parse_alert_rules(view)
    return settings
