"""Observability module (OpenTelemetry traces, metrics and logs) for the iii engine."""

from .module import OtelModule

__all__ = ["OtelModule"]
