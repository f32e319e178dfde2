"""PubSub test fixtures: SDK workers shut down after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from iii import InitOptions, register_worker
from iii.iii import III


@pytest.fixture
def workers() -> Iterator[Callable[[str], III]]:
    """Connect SDK workers with ``workers(url)``; all are shut down after the test."""
    clients: list[III] = []

    def connect(url: str) -> III:
        client = register_worker(url, InitOptions(worker_name="pubsub-test", otel={"enabled": False}))
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.shutdown()
