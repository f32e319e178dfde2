"""Alert rules on engine counters and stored worker metrics, evaluated every 10 s and on demand."""

from __future__ import annotations

import operator as op
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iii_engine import ConfigView

OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    ">": (">", op.gt),
    "greaterthan": (">", op.gt),
    ">=": (">=", op.ge),
    "greaterthanorequal": (">=", op.ge),
    "<": ("<", op.lt),
    "lessthan": ("<", op.lt),
    "<=": ("<=", op.le),
    "lessthanorequal": ("<=", op.le),
    "==": ("==", op.eq),
    "equal": ("==", op.eq),
    "!=": ("!=", op.ne),
    "notequal": ("!=", op.ne),
}
ACTION_TYPES = ("log", "webhook", "function")


@dataclass
class AlertRule:
    name: str
    metric: str
    threshold: float
    operator: str = ">"
    window_seconds: int = 60
    cooldown_seconds: int = 60
    enabled: bool = True
    action: dict[str, Any] = field(default_factory=lambda: {"type": "log"})

    def breached(self, value: float) -> bool:
        return OPERATORS[self.operator][1](value, self.threshold)


@dataclass
class AlertState:
    rule: AlertRule
    firing: bool = False
    last_evaluated: int | None = None
    last_triggered: int | None = None
    current_value: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.rule.name,
            "firing": self.firing,
            "last_evaluated": self.last_evaluated,
            "last_triggered": self.last_triggered,
            "current_value": self.current_value,
            "threshold": self.rule.threshold,
            "operator": self.rule.operator,
        }


def _parse_action(view: ConfigView, index: int, action: Any) -> dict[str, Any]:
    if action is None:
        return {"type": "log"}
    if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
        raise view.error(
            "alerts", f"alert {index}: action must be an object with type log, webhook or function"
        )
    required = {"webhook": "url", "function": "path"}.get(action["type"])
    if required and not isinstance(action.get(required), str):
        raise view.error("alerts", f"alert {index}: a {action['type']} action needs '{required}'")
    return action


def parse_alert_rules(view: ConfigView) -> list[AlertRule]:
    """Read ``alerts:``; a malformed rule is a startup error naming the rule's index."""
    rules = []
    for index, raw in enumerate(view.list("alerts", []) or []):
        if not isinstance(raw, dict):
            raise view.error("alerts", f"alert {index} must be a mapping")
        for key in ("name", "metric"):
            if not isinstance(raw.get(key), str):
                raise view.error("alerts", f"alert {index}: '{key}' is required and must be a string")
        threshold = raw.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise view.error("alerts", f"alert {index}: 'threshold' is required and must be a number")
        operator = str(raw.get("operator", ">")).lower()
        if operator not in OPERATORS:
            raise view.error("alerts", f"alert {index}: unknown operator {raw.get('operator')!r}")
        rules.append(
            AlertRule(
                name=raw["name"],
                metric=raw["metric"],
                threshold=float(threshold),
                operator=OPERATORS[operator][0],
                window_seconds=int(raw.get("window_seconds", 60)),
                cooldown_seconds=int(raw.get("cooldown_seconds", 60)),
                enabled=bool(raw.get("enabled", True)),
                action=_parse_action(view, index, raw.get("action")),
            )
        )
    return rules


MetricValue = Callable[[str, int], float | None]
"""``(metric name, window seconds) -> current value`` or ``None`` when unknown."""

AlertAction = Callable[[AlertRule, dict[str, Any]], None]


class AlertManager:
    """Evaluates each enabled rule; a breach outside the cooldown runs the rule's action."""

    def __init__(self, rules: list[AlertRule], metric_value: MetricValue, run_action: AlertAction) -> None:
        self.states = [AlertState(rule) for rule in rules]
        self._metric_value = metric_value
        self._run_action = run_action

    def evaluate(self) -> list[dict[str, Any]]:
        """Evaluate every rule now; returns the events of the alerts that were triggered."""
        now_ms = int(time.time() * 1000)
        triggered = []
        for state in self.states:
            rule = state.rule
            if not rule.enabled:
                continue
            value = self._metric_value(rule.metric, rule.window_seconds)
            state.last_evaluated = now_ms
            state.current_value = value
            state.firing = value is not None and rule.breached(value)
            if not state.firing:
                continue
            cooling = (
                state.last_triggered is not None
                and now_ms - state.last_triggered < rule.cooldown_seconds * 1000
            )
            if cooling:
                continue
            state.last_triggered = now_ms
            event = {
                "name": rule.name,
                "metric": rule.metric,
                "value": value,
                "threshold": rule.threshold,
                "operator": rule.operator,
                "firing": True,
                "timestamp": now_ms,
            }
            triggered.append(event)
            self._run_action(rule, event)
        return triggered

    def describe(self) -> list[dict[str, Any]]:
        return [state.describe() for state in self.states]

    @property
    def firing_count(self) -> int:
        return sum(1 for state in self.states if state.firing)
