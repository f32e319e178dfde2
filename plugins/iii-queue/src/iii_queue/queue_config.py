"""Reading delivery policies: named queues from YAML, topic subscribers from trigger config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iii_engine import ConfigView, TriggerError

from .message import Policy


@dataclass(frozen=True, slots=True)
class NamedQueue:
    """A ``queue_configs.<name>`` entry."""

    name: str
    policy: Policy
    group_field: str | None


def read_named_queues(config: ConfigView) -> dict[str, NamedQueue]:
    """Parse ``queue_configs``: ``max_retries`` (total attempts), ``concurrency``, ``type``,
    ``message_group_field`` (required for fifo), ``backoff_ms``, ``poll_interval_ms``,
    ``visibility_timeout_ms``."""
    section = config.section("queue_configs")
    queues = {}
    for name in section.keys():
        entry = section.section(name)
        kind = entry.str("type", "standard")
        if kind not in ("standard", "fifo"):
            raise entry.error("type", f"expected 'standard' or 'fifo', got {kind!r}")
        group_field = entry.str("message_group_field")
        if kind == "fifo" and not group_field:
            raise entry.error("message_group_field", f"FIFO queue '{name}' requires 'message_group_field'")
        defaults = Policy()
        policy = Policy(
            max_attempts=entry.int("max_retries", defaults.max_attempts, minimum=1),
            backoff_ms=entry.int("backoff_ms", defaults.backoff_ms, minimum=0),
            concurrency=entry.int("concurrency", defaults.concurrency, minimum=1),
            fifo=kind == "fifo",
            poll_interval_ms=entry.int("poll_interval_ms", defaults.poll_interval_ms, minimum=1),
            visibility_timeout_ms=entry.int(
                "visibility_timeout_ms", defaults.visibility_timeout_ms, minimum=1
            ),
        )
        queues[str(name)] = NamedQueue(str(name), policy, group_field if kind == "fifo" else None)
    return queues


def _number(queue_config: dict[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = queue_config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise TriggerError(f"queue_config.{key} must be a number of at least {minimum}, got {value!r}")
    return value


def trigger_policy(config: dict[str, Any], defaults: Policy) -> Policy:
    """A ``queue`` trigger's policy: its camelCase ``queue_config`` over the adapter's defaults.

    ``type`` (``fifo`` or concurrent), ``concurrency``, ``maxRetries`` (total attempts),
    ``backoffDelayMs`` and ``visibilityTimeout`` (seconds) take effect.
    """
    queue_config = config.get("queue_config") or {}
    if not isinstance(queue_config, dict):
        raise TriggerError("queue_config must be an object")
    visibility_s = _number(
        queue_config, "visibilityTimeout", defaults.visibility_timeout_ms / 1000, minimum=0.001
    )
    fifo = queue_config["type"] == "fifo" if "type" in queue_config else defaults.fifo
    return Policy(
        max_attempts=int(_number(queue_config, "maxRetries", defaults.max_attempts, minimum=1)),
        backoff_ms=int(_number(queue_config, "backoffDelayMs", defaults.backoff_ms, minimum=0)),
        concurrency=1 if fifo else int(_number(queue_config, "concurrency", defaults.concurrency, minimum=1)),
        fifo=fifo,
        poll_interval_ms=defaults.poll_interval_ms,
        visibility_timeout_ms=int(visibility_s * 1000),
    )
