"""A worker connection to a remote engine, with the bridge's error and timeout rules."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from iii_engine import InvocationError
from iii_steps.client import ReconnectPolicy, Worker
from iii_steps.errors import InvocationTimeout, RemoteError

DEFAULT_URL = "ws://localhost:49134"
DEFAULT_TIMEOUT_S = 30.0
FIRST_CONNECT_WAIT_S = 1.0
# Reconnect quickly: a bridge should be back soon after the remote engine restarts.
RECONNECT = ReconnectPolicy(initial_delay=0.2, max_delay=5.0)


def bridge_error(message: str) -> InvocationError:
    return InvocationError("bridge_error", message)


def default_url() -> str:
    return os.environ.get("III_URL") or DEFAULT_URL


class RemoteEngine:
    """Calls into a remote engine as a worker of it.

    Registrations made through :attr:`worker` are replayed on every reconnect. While the
    connection is down, :meth:`call` fails at once with ``bridge_error`` instead of waiting.
    """

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.worker = Worker(url, name=name, reconnect=RECONNECT)

    async def start(self) -> bool:
        """Start connecting; wait a little for the first connection. ``True`` when connected."""
        await self.worker.start(wait=False)
        with contextlib.suppress(ConnectionError):
            await self.worker.wait_connected(FIRST_CONNECT_WAIT_S)
        return self.worker.connected

    async def stop(self) -> None:
        await self.worker.stop()

    def _require_connection(self, function_id: str) -> None:
        if not self.worker.connected:
            raise bridge_error(f"remote engine {self.url} is not connected (calling {function_id})")

    async def call(self, function_id: str, data: Any, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
        """Invoke ``function_id`` remotely; every failure is a ``bridge_error``."""
        self._require_connection(function_id)
        try:
            return await self.worker.invoke(function_id, data, timeout=timeout_s)
        except RemoteError as exc:
            raise bridge_error(f"{function_id} failed on {self.url}: {exc.code}: {exc.message}") from None
        except InvocationTimeout:
            raise bridge_error(
                f"{function_id} timed out after {int(timeout_s * 1000)}ms on {self.url}"
            ) from None

    async def enqueue(self, queue: str, function_id: str, data: Any) -> str:
        """Enqueue a call of ``function_id`` on the remote's named queue; returns the receipt id.

        The remote's ``enqueue_error`` (e.g. an undefined queue) keeps its code and message;
        every other failure is a ``bridge_error``.
        """
        self._require_connection(function_id)
        try:
            return await self.worker.enqueue_to(queue, function_id, data)
        except RemoteError as exc:
            if exc.code == "enqueue_error":
                raise InvocationError(exc.code, exc.message) from None
            raise bridge_error(
                f"enqueue to {queue} failed on {self.url}: {exc.code}: {exc.message}"
            ) from None
        except InvocationTimeout as exc:
            raise bridge_error(f"enqueue to {queue} on {self.url}: {exc}") from None

    async def call_void(self, function_id: str, data: Any) -> None:
        """Invoke remotely without waiting for the outcome; ``bridge_error`` if not sent."""
        self._require_connection(function_id)
        await self.worker.invoke_void(function_id, data)
