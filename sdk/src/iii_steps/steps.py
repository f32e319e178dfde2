"""Step definitions: a step file's ``config`` validated into the functions and triggers it needs.

Two config shapes are accepted.

Single trigger, by step ``type``::

    {"type": "api", "name": "CreateOrder", "path": "/orders", "method": "POST", "flows": ["orders"]}
    {"type": "event", "name": "Notify", "subscribes": ["order.created"]}      # pub/sub (publish)
    {"type": "queue", "name": "Fulfil", "topic": "order.created"}              # topic queue (enqueue)
    {"type": "cron", "name": "Sweep", "cron": "*/5 * * * * *"}     # 6 or 7 fields, seconds first
    {"type": "noop", "name": "Manual"}

Several triggers::

    {"name": "Audit", "triggers": [{"type": "http", "method": "GET", "path": "/audit"},
                                   {"type": "queue", "topic": "audit"},
                                   {"type": "state", "scope": "orders"},
                                   {"type": "stream", "stream_name": "orders"}]}

Each trigger becomes one function ``steps::<name>::trigger::<label>`` (the Motia convention:
``http(POST /orders)``, ``queue(topic)``, ``subscribe(topic)``, ``cron(expr)``, ``state``,
``stream(name)``; a repeated label gets ``-<index>``). A trigger's optional ``condition``
callable becomes the function ``<function id>::conditions::<index>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from .errors import StepError

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
STEP_TYPES = ("api", "event", "queue", "cron", "noop")
TRIGGER_TYPES = ("http", "api", "queue", "subscribe", "event", "cron", "state", "stream")


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """One engine trigger of a step: its type, its engine config and its function-id label."""

    type: str
    config: dict[str, Any]
    label: str
    index: int
    condition: Callable[..., Any] | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """A loaded, valid step."""

    name: str
    file: str
    handler: Callable[..., Any]
    triggers: tuple[TriggerSpec, ...]
    flows: tuple[str, ...] = ()
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def function_id(self, trigger: TriggerSpec) -> str:
        return f"steps::{self.name}::trigger::{trigger.label}"


class _Problems:
    """Collects every problem of one config so the user sees them all at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def string(self, where: dict[str, Any], key: str, prefix: str = "") -> str | None:
        value = where.get(key)
        if not isinstance(value, str) or not value.strip():
            self.add(f"{prefix}'{key}' must be a non-empty string (got {value!r})")
            return None
        return value

    def topics(self, where: dict[str, Any], prefix: str = "") -> list[str]:
        """``topic`` (string) or ``subscribes`` (list of strings)."""
        if "topic" in where:
            topic = self.string(where, "topic", prefix)
            return [topic] if topic else []
        subscribes = where.get("subscribes")
        if (
            not isinstance(subscribes, list)
            or not subscribes
            or not all(isinstance(t, str) and t.strip() for t in subscribes)
        ):
            self.add(
                f"{prefix}needs 'topic' (a string) or 'subscribes' (a non-empty list of strings), "
                f"got {subscribes!r}"
            )
            return []
        return subscribes

    def condition(self, where: dict[str, Any], prefix: str = "") -> Callable[..., Any] | None:
        condition = where.get("condition")
        if condition is not None and not callable(condition):
            self.add(f"{prefix}'condition' must be a function (got {type(condition).__name__})")
            return None
        return condition


def _cron_expression(problems: _Problems, expression: str | None, prefix: str) -> str | None:
    """6 or 7 fields, seconds first (UTC). Classic 5-field crontab lines are refused: their
    day-of-week numbering differs from the engine's, so converting them would be a guess."""
    if expression is None:
        return None
    fields = expression.split()
    if len(fields) not in (6, 7):
        problems.add(
            f"{prefix}cron expression {expression!r} must have 6 or 7 fields, seconds first "
            f"(e.g. '0 */5 * * * *' for every 5 minutes), got {len(fields)}"
        )
        return None
    return " ".join(fields)


class _Made(NamedTuple):
    """One engine trigger derived from a config: type, engine config, function-id label."""

    type: str
    config: dict[str, Any]
    label: str


LEGACY_TYPES = {"api": "http", "event": "subscribe", "queue": "queue", "cron": "cron"}


def _triggers_of(problems: _Problems, entry: dict[str, Any], prefix: str) -> list[_Made]:
    """The engine trigger(s) of one trigger entry (``type`` already an engine trigger type or alias)."""
    kind = entry.get("type")
    if kind in ("http", "api"):
        path = problems.string(entry, "path", prefix)
        method = entry.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
            problems.add(
                f"{prefix}'method' must be one of {', '.join(sorted(HTTP_METHODS))} (got {method!r})"
            )
            return []
        if path is None:
            return []
        method = method.upper()
        return [
            _Made("http", {"api_path": path.lstrip("/"), "http_method": method}, f"http({method} {path})")
        ]
    if kind in ("subscribe", "event"):
        return [_Made("subscribe", {"topic": t}, f"subscribe({t})") for t in problems.topics(entry, prefix)]
    if kind == "queue":
        queue_config = entry.get("config", entry.get("queue_config"))
        extra = {"queue_config": queue_config} if isinstance(queue_config, dict) else {}
        return [_Made("queue", {"topic": t, **extra}, f"queue({t})") for t in problems.topics(entry, prefix)]
    if kind == "cron":
        key = "expression" if "expression" in entry else "cron"
        expression = _cron_expression(problems, problems.string(entry, key, prefix), prefix)
        return [_Made("cron", {"expression": expression}, f"cron({expression})")] if expression else []
    if kind == "state":
        return [
            _Made("state", {k: entry[k] for k in ("scope", "key") if isinstance(entry.get(k), str)}, "state")
        ]
    if kind == "stream":
        name_key = "stream_name" if "stream_name" in entry else "streamName"
        stream_name = problems.string(entry, name_key, prefix)
        if stream_name is None:
            return []
        filters = {"stream_name": stream_name}
        for wire, alias in (("group_id", "groupId"), ("item_id", "itemId")):
            value = entry.get(wire, entry.get(alias))
            if isinstance(value, str) and value:
                filters[wire] = value
        return [_Made("stream", filters, f"stream({stream_name})")]
    problems.add(f"{prefix}'type' must be one of {', '.join(TRIGGER_TYPES)} (got {kind!r})")
    return []


def _legacy_triggers(problems: _Problems, config: dict[str, Any]) -> list[_Made]:
    """The triggers of a single-``type`` config."""
    step_type = config.get("type")
    if step_type == "noop":
        return []
    if step_type not in LEGACY_TYPES:
        problems.add(
            f"'type' must be one of {', '.join(STEP_TYPES)} (got {step_type!r}), or use a 'triggers' list"
        )
        return []
    return _triggers_of(problems, {**config, "type": LEGACY_TYPES[step_type]}, "")


def _json_safe(config: dict[str, Any]) -> dict[str, Any]:
    """The config's JSON-representable entries (functions and schemas classes are left out)."""
    safe: dict[str, Any] = {}
    for key, value in config.items():
        try:
            orjson.dumps(value)
        except TypeError:
            continue
        safe[key] = value
    return safe


def build_step(config: Any, handler: Any, file: str) -> Step:
    """Validate a step file's ``config`` and ``handler``; raises :class:`StepError` listing every problem."""
    if not isinstance(config, dict):
        raise StepError(file, f"'config' must be a dict (got {type(config).__name__})")
    problems = _Problems()
    name = problems.string(config, "name")
    if not callable(handler):
        problems.add(f"'handler' must be a function (got {type(handler).__name__})")
    flows = config.get("flows", [])
    if not isinstance(flows, list) or not all(isinstance(f, str) for f in flows):
        problems.add(f"'flows' must be a list of strings (got {flows!r})")
        flows = []
    built: list[tuple[_Made, Callable[..., Any] | None]] = []
    if "triggers" in config:
        entries = config["triggers"]
        if not isinstance(entries, list):
            problems.add(f"'triggers' must be a list (got {type(entries).__name__})")
            entries = []
        for i, entry in enumerate(entries):
            prefix = f"triggers[{i}]: "
            if not isinstance(entry, dict):
                problems.add(f"{prefix}must be an object (got {type(entry).__name__})")
                continue
            condition = problems.condition(entry, prefix)
            built.extend((made, condition) for made in _triggers_of(problems, entry, prefix))
    else:
        condition = problems.condition(config)
        built.extend((made, condition) for made in _legacy_triggers(problems, config))
    specs: list[TriggerSpec] = []
    labels: set[str] = set()
    for index, ((kind, trigger_config, label), condition) in enumerate(built):
        if condition is not None and kind == "subscribe":
            problems.add(f"a 'condition' is not supported on subscribe triggers ({label})")
        unique = label if label not in labels else f"{label}-{index}"
        labels.add(unique)
        specs.append(TriggerSpec(kind, trigger_config, unique, index, condition))
    if problems.items:
        raise StepError(file, "invalid config: " + "; ".join(problems.items))
    assert name is not None
    description = config.get("description")
    return Step(
        name=name,
        file=file,
        handler=handler,
        triggers=tuple(specs),
        flows=tuple(flows),
        description=description if isinstance(description, str) else None,
        metadata={**_json_safe(config), "filePath": file},
    )
