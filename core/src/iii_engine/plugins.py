"""Discovery of modules and adapters: entry points first, then ``package.module:Name`` imports."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from importlib_metadata import EntryPoint, entry_points

from .errors import StartupError

MODULE_GROUP = "iii.modules"
ADAPTER_GROUP = "iii.adapters"

# Which distribution provides each class name of the reference, to name it in "install …" hints.
# Plain data: the kernel never imports these distributions.
KNOWN_PROVIDERS: dict[str, str] = {
    "modules::api::RestApiModule": "iii-api",
    "modules::http_functions::HttpFunctionsModule": "iii-api",
    "modules::stream::StreamModule": "iii-stream",
    "modules::stream::adapters::KvStore": "iii-stream",
    "modules::stream::adapters::RedisAdapter": "iii-stream",
    "modules::state::StateModule": "iii-state",
    "modules::state::adapters::KvStore": "iii-state",
    "modules::state::adapters::RedisAdapter": "iii-state",
    "modules::queue::QueueModule": "iii-queue",
    "modules::queue::BuiltinQueueAdapter": "iii-queue",
    "modules::queue::RedisAdapter": "iii-queue",
    "modules::queue::RabbitMQAdapter": "iii-queue",
    "modules::pubsub::PubSubModule": "iii-pubsub",
    "modules::pubsub::LocalAdapter": "iii-pubsub",
    "modules::pubsub::RedisAdapter": "iii-pubsub",
    "modules::cron::CronModule": "iii-cron",
    "modules::cron::KvCronAdapter": "iii-cron",
    "modules::cron::RedisCronAdapter": "iii-cron",
    "modules::observability::OtelModule": "iii-otel",
    "modules::shell::ExecModule": "iii-exec",
    "modules::bridge_client::BridgeClientModule": "iii-bridge",
    "modules::state::adapters::Bridge": "iii-bridge",
    "modules::stream::adapters::Bridge": "iii-bridge",
    "modules::queue::adapters::Bridge": "iii-bridge",
}

# The modules `iii` loads without a config file, in this order, when installed.
DEFAULT_MODULES: tuple[str, ...] = (
    "modules::api::RestApiModule",
    "modules::stream::StreamModule",
    "modules::state::StateModule",
    "modules::queue::QueueModule",
    "modules::pubsub::PubSubModule",
    "modules::cron::CronModule",
)

# Appended to every configuration that does not list them.
ALWAYS_LOADED: tuple[str, ...] = ("modules::worker::WorkerModule", "modules::telemetry::TelemetryModule")


@dataclass(frozen=True)
class Installed:
    """An installed module or adapter, as listed by ``iii modules``."""

    group: str
    name: str
    target: str
    distribution: str
    version: str


def _entry_points(group: str) -> list[EntryPoint]:
    return list(entry_points(group=group))


def installed(group: str) -> list[Installed]:
    rows = []
    for ep in _entry_points(group):
        dist = ep.dist
        rows.append(
            Installed(
                group=group,
                name=ep.name,
                target=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else "?",
                version=dist.version if dist is not None else "?",
            )
        )
    return sorted(rows, key=lambda r: r.name)


def installed_names(group: str) -> set[str]:
    return {ep.name for ep in _entry_points(group)}


def resolve(group: str, name: str) -> Any:
    """The object behind a ``class:`` name. Raises :class:`StartupError` with an install hint."""
    for ep in _entry_points(group):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:
                provider = ep.dist.metadata["Name"] if ep.dist is not None else "its distribution"
                raise StartupError(f"'{name}' is installed ({provider}) but failed to load: {exc}") from exc
    if ":" in name and "::" not in name:
        module_name, _, attribute = name.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise StartupError(f"Cannot import '{name}': {exc}") from None
    kind = "module" if group == MODULE_GROUP else "adapter"
    provider = KNOWN_PROVIDERS.get(name)
    if provider:
        raise StartupError(
            f"Unknown {kind} class: {name}. It is provided by the '{provider}' distribution: "
            f"pip install {provider}"
        )
    available = sorted(installed_names(group))
    raise StartupError(
        f"Unknown {kind} class: {name}. No installed distribution provides it "
        f"(entry-point group '{group}'; installed: {', '.join(available) or 'none'})."
    )
