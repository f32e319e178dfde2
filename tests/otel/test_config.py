"""Config: the upstream test section loads, env fallbacks, lenient keys, clear startup errors."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, free_port
from tests.otel.helpers import RawClient

UPSTREAM_SECTION = """
port: {ENGINE_PORT}
modules:
  - class: modules::observability::OtelModule
    config:
      enabled: ${OTEL_ENABLED:true}
      service_name: ${OTEL_SERVICE_NAME:iii-test}
      service_version: ${SERVICE_VERSION:0.2.0}
      exporter: ${OTEL_EXPORTER_TYPE:memory}
      endpoint: ${OTEL_EXPORTER_OTLP_ENDPOINT:http://localhost:4317}
      sampling_ratio: 1.0
      memory_max_spans: ${OTEL_MEMORY_MAX_SPANS:10000}
      metrics_enabled: true
      metrics_exporter: ${OTEL_METRICS_EXPORTER:memory}
      metrics_retention_seconds: 3600
      metrics_max_count: 10000
      logs_enabled: ${OTEL_LOGS_ENABLED:true}
      logs_exporter: ${OTEL_LOGS_EXPORTER:memory}
      logs_max_count: ${OTEL_LOGS_MAX_COUNT:1000}
      logs_retention_seconds: ${OTEL_LOGS_RETENTION_SECONDS:3600}
      logs_sampling_ratio: ${OTEL_LOGS_SAMPLING_RATIO:1.0}
      logs_console_output: ${OTEL_LOGS_CONSOLE_OUTPUT:false}
      level: info
      format: json
      some_future_key: ignored
"""


async def test_upstream_test_section_loads(engine_factory) -> None:
    prometheus = free_port()
    engine = engine_factory(
        UPSTREAM_SECTION,
        env={"OTEL_PROMETHEUS_PORT": str(prometheus)},
        ports={"PROM_PORT": prometheus},
        wait_ports=("ENGINE_PORT", "PROM_PORT"),
    )
    client = await RawClient.connect(engine.ws_url)
    try:
        health = await client.result("engine::health::check", {})
        assert health["components"]["otel"]["details"] == {
            "enabled": True,
            "service_name": "iii-test",
            "exporter": "memory",
        }
        assert health["components"]["spans"]["status"] == "healthy"
        assert health["components"]["metrics"]["status"] == "healthy"
        assert (await client.result("engine::sampling::rules", {}))["traces"]["default_ratio"] == 1.0
    finally:
        await client.close()
    first_line = engine.log().splitlines()[0]
    assert json.loads(first_line)["level"] == "INFO"  # format: json reached the kernel's logging


async def test_environment_supplies_defaults(engine_factory) -> None:
    config = "port: {ENGINE_PORT}\nmodules:\n  - class: modules::observability::OtelModule\n"
    env = {
        "OTEL_ENABLED": "1",
        "OTEL_EXPORTER_TYPE": "memory",
        "OTEL_SERVICE_NAME": "from-env",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
        "OTEL_METRICS_ENABLED": "false",
    }
    engine = engine_factory(config, env=env)
    client = await RawClient.connect(engine.ws_url)
    try:
        health = await client.result("engine::health::check", {})
        assert health["components"]["otel"]["details"]["service_name"] == "from-env"
        assert health["components"]["metrics"]["status"] == "disabled"
        assert (await client.result("engine::sampling::rules", {}))["traces"]["default_ratio"] == 0.25
    finally:
        await client.close()


BAD_CONFIGS = [
    ("exporter: bogus", "exporter: must be one of otlp, memory, both"),
    ("sampling_ratio: 2", "sampling_ratio: must be between 0 and 1"),
    ("enabled: maybe", "enabled: expected true or false"),
    ("memory_max_spans: many", "memory_max_spans: expected an integer"),
    ("alerts: [{name: a, metric: m, threshold: 1, action: log}]", "action must be an object"),
    ("alerts: [{name: a, metric: m}]", "'threshold' is required"),
    ("alerts: [{name: a, metric: m, threshold: 1, operator: about}]", "unknown operator"),
    ("sampling: {rules: [{operation: x}]}", "must be a mapping with a 'rate'"),
    ("logs_batch_size: 20000", "logs_batch_size: must be between 1 and 10000"),
]


def failed_startup(tmp_path: Path, module_config: str) -> tuple[Path, str]:
    """Run the engine on an OtelModule entry whose ``config:`` is ``module_config``; it must exit 1.
    Returns the config path and stderr."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"port: {free_port()}\nmodules:\n  - class: modules::observability::OtelModule\n"
        f"    config:{module_config}\n"
    )
    result = subprocess.run(
        [str(BIN / "iii"), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    return config, result.stderr


@pytest.mark.parametrize(("line", "message"), BAD_CONFIGS)
def test_bad_config_fails_startup_naming_the_key(tmp_path: Path, line: str, message: str) -> None:
    config, stderr = failed_startup(tmp_path, f"\n      {line}")
    assert f"{config}:5" in stderr and message in stderr, stderr


def test_explicit_prometheus_port_in_use_fails_startup(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _, stderr = failed_startup(
            tmp_path, f" {{metrics_enabled: true, prometheus_host: 127.0.0.1, prometheus_port: {port}}}"
        )
    assert "cannot serve Prometheus metrics" in stderr, stderr
