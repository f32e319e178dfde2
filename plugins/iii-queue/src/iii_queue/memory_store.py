"""The builtin adapter's in-memory store (also the state the file-based store journals)."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field

from .message import DeadLetter, Message, Policy, now_ms
from .store import QueueStore, describe_stats

FIFO_SCAN_WINDOW = 1000
"""How many ready messages a FIFO reserve looks through for one whose group is free."""


@dataclass
class QueueState:
    """One queue: every live message by id, and where each one is."""

    messages: dict[str, Message] = field(default_factory=dict)
    ready: deque[str] = field(default_factory=deque)
    delayed: list[tuple[int, int, str]] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    expiries: list[tuple[int, int, str]] = field(default_factory=list)
    locks: dict[str, str] = field(default_factory=dict)
    dead: dict[str, DeadLetter] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.messages and not self.dead


def group_of(message: Message) -> str:
    """A FIFO lock key: the message group, or the queue-wide group ``""``."""
    return message.group or ""


class MemoryStore(QueueStore):
    """Queues in process memory: fast, lost when the engine stops."""

    def __init__(self) -> None:
        super().__init__()
        self.state: dict[str, QueueState] = {}
        self._sequence = itertools.count()

    def _queue(self, name: str) -> QueueState:
        state = self.state.get(name)
        if state is None:
            state = self.state[name] = QueueState()
        return state

    def _current(self, state: QueueState, message: Message) -> Message | None:
        """The stored message if ``message`` is its current delivery, else None (stale)."""
        stored = state.messages.get(message.id)
        if stored is None or stored.attempts != message.attempts or message.id not in state.in_flight:
            return None
        return stored

    def _release(self, state: QueueState, message: Message) -> None:
        group = group_of(message)
        if state.locks.get(group) == message.id:
            del state.locks[group]

    def delay(self, state: QueueState, message_id: str, ready_at: int) -> None:
        heapq.heappush(state.delayed, (ready_at, next(self._sequence), message_id))

    # -- QueueStore ----------------------------------------------------------------------------

    async def push(self, queue: str, message: Message) -> None:
        state = self._queue(queue)
        state.messages[message.id] = message
        state.ready.append(message.id)
        self.wake(queue)

    def _promote(self, state: QueueState, now: int) -> None:
        while state.delayed and state.delayed[0][0] <= now:
            _, _, message_id = heapq.heappop(state.delayed)
            if message_id in state.messages and message_id not in state.in_flight:
                state.ready.appendleft(message_id)
        while state.expiries and state.expiries[0][0] <= now:
            deadline, _, message_id = heapq.heappop(state.expiries)
            if state.in_flight.get(message_id) == deadline:
                del state.in_flight[message_id]
                state.ready.appendleft(message_id)

    def _take(self, state: QueueState, message: Message, deadline: int) -> Message:
        message.attempts += 1
        state.in_flight[message.id] = deadline
        heapq.heappush(state.expiries, (deadline, next(self._sequence), message.id))
        return dataclasses.replace(message)

    async def reserve(self, queue: str, limit: int, policy: Policy) -> list[Message]:
        state = self.state.get(queue)
        if state is None:
            return []
        now = now_ms()
        self._promote(state, now)
        deadline = now + policy.visibility_timeout_ms
        taken: list[Message] = []
        if not policy.fifo:
            while state.ready and len(taken) < limit:
                message = state.messages.get(state.ready.popleft())
                if message is not None:
                    taken.append(self._take(state, message, deadline))
            return taken
        seen_groups: set[str] = set()
        chosen: list[str] = []
        for message_id in itertools.islice(state.ready, FIFO_SCAN_WINDOW):
            if len(chosen) >= limit:
                break
            message = state.messages.get(message_id)
            if message is None:
                continue
            group = group_of(message)
            if group not in seen_groups and state.locks.get(group, message_id) == message_id:
                seen_groups.add(group)
                state.locks[group] = message_id
                chosen.append(message_id)
        for message_id in chosen:
            state.ready.remove(message_id)
            taken.append(self._take(state, state.messages[message_id], deadline))
        return taken

    def _finish(self, state: QueueState, message: Message) -> Message | None:
        """Forget the current delivery ``message`` and free its group; None if stale."""
        stored = self._current(state, message)
        if stored is not None:
            del state.messages[message.id]
            del state.in_flight[message.id]
            self._release(state, stored)
        return stored

    async def ack(self, queue: str, message: Message) -> None:
        self._finish(self._queue(queue), message)

    async def retry(self, queue: str, message: Message, delay_ms: int) -> None:
        state = self._queue(queue)
        if self._current(state, message) is None:
            return
        del state.in_flight[message.id]
        self.delay(state, message.id, now_ms() + delay_ms)

    async def bury(self, queue: str, message: Message, error: str) -> None:
        state = self._queue(queue)
        stored = self._finish(state, message)
        if stored is not None:
            state.dead[message.id] = DeadLetter(dataclasses.replace(stored), error)

    async def dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        state = self.state.get(queue)
        return [] if state is None else list(itertools.islice(state.dead.values(), limit))

    def _select_dead(self, state: QueueState, ids: list[str] | None) -> list[str]:
        return list(state.dead) if ids is None else [i for i in ids if i in state.dead]

    async def redrive(self, queue: str, ids: list[str] | None) -> int:
        state = self._queue(queue)
        selected = self._select_dead(state, ids)
        for message_id in selected:
            message = state.dead.pop(message_id).message
            message.attempts = 0
            state.messages[message_id] = message
            state.ready.append(message_id)
        if selected:
            self.wake(queue)
        return len(selected)

    async def purge_dead(self, queue: str, ids: list[str] | None) -> int:
        state = self._queue(queue)
        selected = self._select_dead(state, ids)
        for message_id in selected:
            del state.dead[message_id]
        return len(selected)

    async def stats(self, queue: str) -> dict[str, int]:
        state = self.state.get(queue) or QueueState()
        in_flight = len(state.in_flight)
        delayed = sum(1 for _, _, i in state.delayed if i in state.messages and i not in state.in_flight)
        ready = len(state.messages) - in_flight - delayed
        return describe_stats(ready, delayed, in_flight, len(state.dead))

    async def queues(self) -> list[str]:
        return sorted(name for name, state in self.state.items() if not state.is_empty())
