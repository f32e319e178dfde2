"""Subscriptions of the connected stream clients, indexed by ``(stream, group)`` for fan-out."""

from __future__ import annotations

from typing import Any, Protocol

from iii_state.codec import dumps

from .client import text_frame


class Subscriber(Protocol):
    """What the hub needs from a client connection."""

    def send(self, frame: bytes) -> bool:
        """Queue a serialized frame without waiting; ``False`` when the client is gone or dropped."""


class Subscription:
    """One ``join`` of one connection: a group (``item is None``) or a single item.

    Until its ``sync`` is sent, matching frames wait in ``held`` so the client always sees the
    sync first, then every change made after it joined.
    """

    __slots__ = ("client", "group", "held", "id", "item", "stream")

    def __init__(
        self, client: Subscriber, subscription_id: str, stream: str, group: str, item: str | None
    ) -> None:
        self.client = client
        self.id = subscription_id
        self.stream = stream
        self.group = group
        self.item = item
        self.held: list[bytes] | None = []

    def send(self, frame: bytes) -> bool:
        if self.held is not None:
            self.held.append(frame)
            return True
        return self.client.send(frame)

    def release(self, first: bytes) -> None:
        """Send ``first`` (the sync), then the frames held meanwhile; deliver directly from now."""
        held, self.held = self.held or [], None
        self.client.send(first)
        for frame in held:
            self.client.send(frame)

    def describe(self, context: Any) -> dict[str, Any]:
        """The ``stream:join`` / ``stream:leave`` trigger payload."""
        return {
            "subscription_id": self.id,
            "stream_name": self.stream,
            "group_id": self.group,
            "id": self.item,
            "context": context,
        }


class Hub:
    """Routes each stream message to every matching subscription (once per subscription)."""

    def __init__(self) -> None:
        self._by_group: dict[tuple[str, str], set[Subscription]] = {}

    def add(self, subscription: Subscription) -> None:
        self._by_group.setdefault((subscription.stream, subscription.group), set()).add(subscription)

    def remove(self, subscription: Subscription) -> None:
        key = (subscription.stream, subscription.group)
        members = self._by_group.get(key)
        if members is not None:
            members.discard(subscription)
            if not members:
                del self._by_group[key]

    def __len__(self) -> int:
        return sum(len(members) for members in self._by_group.values())

    def deliver(self, message: dict[str, Any]) -> int:
        """Send ``message`` to its subscribers; return how many frames were queued."""
        members = self._by_group.get((message.get("streamName"), message.get("groupId")))  # type: ignore[arg-type]
        if not members:
            return 0
        frame = text_frame(dumps(message))
        item = message.get("id")
        sent = 0
        for subscription in members:  # a dropped client leaves the set later (connection_lost)
            if (subscription.item is None or subscription.item == item) and subscription.send(frame):
                sent += 1
        return sent
