"""``modules::pubsub::PubSubModule``: the ``publish`` function and ``subscribe`` trigger type."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from iii_engine import Input, Invocation, InvocationError, Module, StartupError, Trigger, hookimpl

from .adapter import PubSubAdapter

LOCAL_ADAPTER = "modules::pubsub::LocalAdapter"


class PubSubModule(Module):
    """At-most-once fan-out: every ``subscribe`` trigger of a topic gets each published message,
    concurrently, without retries; results and errors are ignored."""

    logger_name = "iii::modules::pubsub"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.adapter: PubSubAdapter
        self.subscribers: dict[str, dict[str, Trigger]] = defaultdict(dict)

    @hookimpl
    def iii_module_init(self) -> None:
        self.adapter = self.engine.create_adapter(self.config, LOCAL_ADAPTER)
        self.config.reject_unknown()

    @hookimpl
    def iii_module_register(self) -> None:
        self.engine.register_function("publish", self.publish, description="Publishes an event")
        self.engine.register_trigger_type("subscribe", "Subscribe trigger", self)

    @hookimpl
    async def iii_module_start(self) -> None:
        try:
            await self.adapter.open(self.deliver)
        except Exception as exc:
            raise StartupError(f"cannot open the pubsub adapter: {type(exc).__name__}: {exc}") from None

    @hookimpl
    async def iii_module_stop(self) -> None:
        await self.adapter.close()

    async def publish(self, invocation: Invocation) -> None:
        data = Input(invocation.function_id, invocation.data)
        topic = data.required("topic", str)
        payload = data.required("data")
        if not topic:
            raise InvocationError("topic_not_set", "Topic is not set")
        try:
            await self.adapter.publish(topic, payload)
        except Exception as exc:
            self.log.error("publish failed", topic=topic, error=repr(exc))
            raise InvocationError("publish_error", f"Failed to publish: {exc}") from None

    def deliver(self, topic: str, data: Any) -> None:
        """Invoke every subscriber of ``topic`` in the background."""
        for trigger in list(self.subscribers.get(topic, {}).values()):
            self.engine.invoke_void(trigger.function_id, data, source="pubsub")

    async def register_trigger(self, trigger: Trigger) -> None:
        topic = trigger.config.get("topic") if isinstance(trigger.config, dict) else None
        if not isinstance(topic, str) or not topic:
            self.log.warning("subscribe trigger without a topic is inert", trigger_id=trigger.id)
            return
        first = not self.subscribers[topic]
        self.subscribers[topic][trigger.id] = trigger
        if first:
            await self.adapter.subscribe(topic)

    async def unregister_trigger(self, trigger: Trigger) -> None:
        for topic, triggers in list(self.subscribers.items()):
            if triggers.pop(trigger.id, None) is not None and not triggers:
                del self.subscribers[topic]
                await self.adapter.unsubscribe(topic)
