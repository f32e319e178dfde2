"""Observability module (OpenTelemetry traces, metrics, logs) for the iii engine"""
