"""The builtin adapter's file-based store: the in-memory store plus an append-only journal.

Every change is appended to ``<file_path>/queue.journal`` with one ``write`` before the call
returns, so an accepted enqueue survives the engine being killed. On start the journal is
replayed (messages that were in flight become ready again: at-least-once) and rewritten in
compact form; while running it is compacted every ``save_interval_ms`` once it has grown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import orjson

from .memory_store import MemoryStore, QueueState, group_of
from .message import DeadLetter, Message, now_ms

JOURNAL_NAME = "queue.journal"
COMPACT_MIN_RECORDS = 10_000


class FileStore(MemoryStore):
    """In-memory queues made durable by a journal in ``directory``."""

    def __init__(self, directory: Path, save_interval_ms: int) -> None:
        super().__init__()
        self.path = directory / JOURNAL_NAME
        self.save_interval_s = save_interval_ms / 1000
        self._fd = -1
        self._records = 0
        self._compactor: asyncio.Task[None] | None = None

    # -- journal -------------------------------------------------------------------------------

    def _append(self, *records: dict[str, Any]) -> None:
        os.write(self._fd, b"".join(orjson.dumps(r) + b"\n" for r in records))
        self._records += len(records)

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._replay(self.path.read_bytes())
        self._compact()
        self._compactor = asyncio.get_running_loop().create_task(self._compact_periodically())

    async def close(self) -> None:
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    async def _compact_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.save_interval_s)
            live = sum(len(s.messages) + len(s.dead) for s in self.state.values())
            if self._records > max(COMPACT_MIN_RECORDS, 2 * live):
                self._compact()

    def _compact(self) -> None:
        """Rewrite the journal as the fewest records that rebuild the current state."""
        records: list[dict[str, Any]] = []
        for name, state in self.state.items():
            for message in state.messages.values():
                records.append(_push_record(name, message))
                if message.attempts:
                    records.append(
                        {"op": "retry", "q": name, "id": message.id, "attempts": message.attempts, "at": 0}
                    )
            for letter in state.dead.values():
                records.append(_push_record(name, letter.message))
                records.append(_bury_record(name, letter))
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("wb") as file:
            file.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._records = len(records)

    def _replay(self, journal: bytes) -> None:
        retry_at: dict[str, int] = {}
        for line in journal.splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a torn last line from a kill mid-write: that call never returned
            state = self._queue(record["q"])
            op = record["op"]
            if op == "push":
                message = Message.from_dict(record["m"])
                state.messages[message.id] = message
            elif op == "ack":
                state.messages.pop(record["id"], None)
            elif op == "retry" and record["id"] in state.messages:
                state.messages[record["id"]].attempts = record["attempts"]
                retry_at[record["id"]] = record["at"]
            elif op == "bury" and record["id"] in state.messages:
                message = state.messages.pop(record["id"])
                message.attempts = record["attempts"]
                state.dead[message.id] = DeadLetter(message, record["error"], record["failed_at"])
            elif op == "redrive" and record["id"] in state.dead:
                message = state.dead.pop(record["id"]).message
                message.attempts = 0
                state.messages[message.id] = message
            elif op == "purge":
                state.dead.pop(record["id"], None)
        for state in self.state.values():
            self._rebuild(state, retry_at)

    def _rebuild(self, state: QueueState, retry_at: dict[str, int]) -> None:
        now = now_ms()
        for message in state.messages.values():
            at = retry_at.get(message.id, 0)
            if at > now:
                self.delay(state, message.id, at)
                state.locks[group_of(message)] = message.id
            else:
                state.ready.append(message.id)

    # -- journaled changes -----------------------------------------------------------------------

    async def push(self, queue: str, message: Message) -> None:
        self._append(_push_record(queue, message))
        await super().push(queue, message)

    async def ack(self, queue: str, message: Message) -> None:
        if self._current(self._queue(queue), message) is not None:
            self._append({"op": "ack", "q": queue, "id": message.id})
        await super().ack(queue, message)

    async def retry(self, queue: str, message: Message, delay_ms: int) -> None:
        if self._current(self._queue(queue), message) is not None:
            at = now_ms() + delay_ms
            self._append(
                {"op": "retry", "q": queue, "id": message.id, "attempts": message.attempts, "at": at}
            )
        await super().retry(queue, message, delay_ms)

    async def bury(self, queue: str, message: Message, error: str) -> None:
        current = self._current(self._queue(queue), message)
        await super().bury(queue, message, error)
        if current is not None:
            self._append(_bury_record(queue, self._queue(queue).dead[message.id]))

    async def redrive(self, queue: str, ids: list[str] | None) -> int:
        state = self._queue(queue)
        selected = self._select_dead(state, ids)
        self._append(*({"op": "redrive", "q": queue, "id": i} for i in selected))
        return await super().redrive(queue, selected)

    async def purge_dead(self, queue: str, ids: list[str] | None) -> int:
        state = self._queue(queue)
        selected = self._select_dead(state, ids)
        self._append(*({"op": "purge", "q": queue, "id": i} for i in selected))
        return await super().purge_dead(queue, selected)


def _push_record(queue: str, message: Message) -> dict[str, Any]:
    return {"op": "push", "q": queue, "m": message.to_dict()}


def _bury_record(queue: str, letter: DeadLetter) -> dict[str, Any]:
    return {
        "op": "bury",
        "q": queue,
        "id": letter.message.id,
        "attempts": letter.message.attempts,
        "error": letter.error,
        "failed_at": letter.failed_at,
    }
