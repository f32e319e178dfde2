"""``modules::telemetry::TelemetryModule``: accepted for config compatibility; sends nothing.

The reference sends anonymous product analytics; this engine never phones home. The module
exists so that configs listing it (with its lenient keys) keep loading.
"""

from __future__ import annotations

from .module import Module


class TelemetryModule(Module):
    logger_name = "iii::modules::telemetry"
