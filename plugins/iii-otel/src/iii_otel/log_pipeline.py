"""Where every log record goes: the store, the console, the OTLP exporter and ``log`` triggers."""

from __future__ import annotations

import random
from typing import Any

from iii_engine import Engine, Trigger, TriggerError

from .exporters import LogForwarder
from .log_store import LogStore
from .tracing import LOG_TRIGGER_SOURCE, RecentTraces

LOG_TRIGGER_TYPE = "log"
LOOP_GUARD_BAGGAGE = "iii.log_trigger=1"
"""Baggage sent with ``log`` trigger deliveries: records written under it fire no triggers."""

_CONSOLE_METHODS = {
    "TRACE": "debug",
    "DEBUG": "debug",
    "INFO": "info",
    "WARN": "warning",
    "WARNING": "warning",
    "ERROR": "error",
    "FATAL": "error",
}


class LogPipeline:
    """Stores records (subject to ``logs_sampling_ratio`` for ``engine::log::*``), echoes them,
    forwards them over OTLP and fires the ``log`` triggers whose ``level`` matches.

    Loop guard: a record written by a function that a ``log`` trigger started (recognised by the
    guard baggage, or by its trace id) is stored but fires no triggers.
    """

    def __init__(
        self,
        engine: Engine,
        store: LogStore,
        forwarder: LogForwarder | None,
        sampling_ratio: float,
        trigger_traces: RecentTraces,
    ) -> None:
        self.engine = engine
        self.store = store
        self.forwarder = forwarder
        self.sampling_ratio = sampling_ratio
        self.trigger_traces = trigger_traces

    def write(
        self, record: dict[str, Any], *, console: bool, sampled: bool = False, guarded: bool = False
    ) -> bool:
        """Handle one record; returns False when sampling dropped it."""
        if sampled and self.sampling_ratio < 1.0 and random.random() >= self.sampling_ratio:
            return False
        self.store.add(record)
        if console:
            self._echo(record)
        if self.forwarder is not None:
            self.forwarder.forward(record)
        if not guarded and record["trace_id"] not in self.trigger_traces:
            self._fire(record)
        return True

    def _echo(self, record: dict[str, Any]) -> None:
        method = _CONSOLE_METHODS.get(record["severity_text"].upper(), "info")
        fields = dict(record["attributes"])
        if record["trace_id"]:
            fields["trace_id"] = record["trace_id"]
        body = record["body"]
        logger = self.engine.logger(record["service_name"] or "unknown")
        getattr(logger, method)(body if isinstance(body, str) else repr(body), **fields)

    def _fire(self, record: dict[str, Any]) -> None:
        triggers = self.engine.triggers.of_type(LOG_TRIGGER_TYPE)
        if not triggers:
            return
        severity = record["severity_text"].lower()
        for trigger in triggers:
            level = trigger.config.get("level", "all") if isinstance(trigger.config, dict) else "all"
            if level in (None, "all") or str(level).lower() == severity:
                self.engine.spawn(
                    self.engine.fire(trigger, record, source=LOG_TRIGGER_SOURCE, baggage=LOOP_GUARD_BAGGAGE),
                    name="fire:log",
                )


class LogTriggerType:
    """Owner of the ``log`` trigger type: checks the config; the pipeline delivers the events."""

    async def register_trigger(self, trigger: Trigger) -> None:
        config = trigger.config
        if config is not None and not isinstance(config, dict):
            raise TriggerError("log trigger config must be an object")
        level = (config or {}).get("level")
        if level is not None and not isinstance(level, str):
            raise TriggerError("log trigger 'level' must be a string (all, trace, debug, info, warn, error)")

    async def unregister_trigger(self, trigger: Trigger) -> None:
        return None
