"""Helpers shared by the state and stream suites: configs per adapter, SDK workers, Redis keys."""

from __future__ import annotations

import ast
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from iii import InitOptions, register_worker
from iii.iii import III

REDIS_URL = "redis://127.0.0.1:6379/1"
ADAPTERS = ("memory", "file", "redis")


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def adapter_block(module: str, kind: str, key_prefix: str, directory: str = "./data") -> str:
    """The ``adapter:`` YAML of ``module`` (``state`` or ``stream``) for one adapter kind."""
    if kind == "redis":
        return (
            f"      adapter:\n        class: modules::{module}::adapters::RedisAdapter\n"
            f"        config: {{redis_url: '{REDIS_URL}', key_prefix: '{key_prefix}'}}\n"
        )
    method = "file_based" if kind == "file" else "in_memory"
    return (
        f"      adapter:\n        class: modules::{module}::adapters::KvStore\n"
        f"        config: {{store_method: {method}, file_path: '{directory}/{module}',"
        " save_interval_ms: 50}\n"
    )


def state_config(kind: str, key_prefix: str) -> str:
    return (
        "port: {ENGINE_PORT}\nmodules:\n  - class: modules::state::StateModule\n    config:\n"
        + adapter_block("state", kind, key_prefix)
    )


def stream_config(kind: str, key_prefix: str, extra: str = "") -> str:
    """Stream module on ``{STREAM_PORT}`` (plus ``extra`` lines of its config)."""
    return (
        "port: {ENGINE_PORT}\nmodules:\n  - class: modules::stream::StreamModule\n    config:\n"
        "      port: {STREAM_PORT}\n      host: 127.0.0.1\n"
        + extra
        + adapter_block("stream", kind, key_prefix)
    )


def connect(url: str) -> III:
    """An iii-sdk worker without telemetry, connected and settled."""
    client = register_worker(url, InitOptions(otel={"enabled": False}, enable_metrics_reporting=False))
    time.sleep(0.2)
    return client


@contextmanager
def workers(url: str, count: int = 1) -> Iterator[list[III]]:
    clients = [connect(url) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            client.shutdown()


def call(client: III, function_id: str, payload: Any) -> Any:
    return client.trigger({"function_id": function_id, "payload": payload})


def call_error(client: III, function_id: str, payload: Any) -> dict[str, Any]:
    """The error body of a call that must fail."""
    try:
        result = client.trigger({"function_id": function_id, "payload": payload})
    except Exception as exc:
        return ast.literal_eval(str(exc))
    raise AssertionError(f"{function_id} succeeded with {result!r}")


def wait_until(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {timeout}s (last value {value!r})")
        time.sleep(interval)


def wait_registered(client: III, functions: Iterable[str] = (), triggers: Iterable[str] = ()) -> None:
    """Wait until the engine lists ``functions`` and triggers bound to each id in ``triggers``."""
    functions, triggers = set(functions), set(triggers)

    def ready() -> bool:
        listed = {f["function_id"] for f in call(client, "engine::functions::list", {})["functions"]}
        bound = {t["function_id"] for t in call(client, "engine::triggers::list", {})["triggers"]}
        return functions <= listed and triggers <= bound

    wait_until(ready)


@contextmanager
def redis_keys(key_prefix: str) -> Iterator[redis.Redis]:
    """A client of the test DB; every key under ``key_prefix`` is deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        keys = list(client.scan_iter(match=key_prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
