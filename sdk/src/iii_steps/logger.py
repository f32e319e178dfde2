"""A logger whose records reach the engine (``engine::log::*``) with the handler's trace ids.

When the engine has no ``engine::log::*`` functions (no OtelModule), records go to Python's
``logging`` instead, under the logger name ``iii_steps.<service>``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .tracing import current_trace

if TYPE_CHECKING:
    from .client import Worker

_LOCAL_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


class Logger:
    """``info``/``warn``/``error``/``debug``/``trace`` with an optional ``data`` object of attributes."""

    def __init__(self, worker: Worker, service_name: str, fields: dict[str, Any] | None = None) -> None:
        self.worker = worker
        self.service_name = service_name
        self.fields = fields or {}
        self._local = logging.getLogger(f"iii_steps.{service_name}")

    def child(self, **fields: Any) -> Logger:
        """A logger that adds ``fields`` to every record's data."""
        return Logger(self.worker, self.service_name, {**self.fields, **fields})

    def log(self, level: str, message: str, data: Any = None) -> None:
        """Emit one record; never blocks and never raises."""
        data = self._with_fields(data)
        function_id = f"engine::log::{level}"
        if function_id in self.worker.engine_functions:
            record: dict[str, Any] = {"message": message, "service_name": self.service_name}
            if data is not None:
                record["data"] = data
            trace = current_trace()
            if trace is not None:
                record["trace_id"] = trace.trace_id
                record["span_id"] = trace.span_id
            self.worker.post_void(function_id, record)
        else:
            extra = f" {data}" if data is not None else ""
            self._local.log(_LOCAL_LEVELS.get(level, logging.INFO), "%s%s", message, extra)

    def _with_fields(self, data: Any) -> Any:
        if not self.fields:
            return data
        if data is None:
            return dict(self.fields)
        if isinstance(data, dict):
            return {**self.fields, **data}
        return {**self.fields, "data": data}

    def trace(self, message: str, data: Any = None) -> None:
        self.log("trace", message, data)

    def debug(self, message: str, data: Any = None) -> None:
        self.log("debug", message, data)

    def info(self, message: str, data: Any = None) -> None:
        self.log("info", message, data)

    def warn(self, message: str, data: Any = None) -> None:
        self.log("warn", message, data)

    warning = warn

    def error(self, message: str, data: Any = None) -> None:
        self.log("error", message, data)
