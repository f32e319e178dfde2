"""An engine restart (graceful stop, start on the same port) does not strand iii-sdk workers."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from iii import InitOptions, register_worker

from tests.conftest import EngineProcess

CONFIG = "port: {ENGINE_PORT}\nmodules: []\n"


@pytest.mark.timeout(60)
def test_python_sdk_worker_reconnects_and_reregisters_after_a_graceful_restart(
    engine_factory: Callable[..., EngineProcess],
) -> None:
    first = engine_factory(CONFIG)
    worker = register_worker(first.ws_url, InitOptions(invocation_timeout_ms=3000))
    caller = None
    try:
        worker.register_function({"id": "restart.echo"}, lambda data: {"echo": data["n"]})
        assert first.stop() == 0
        second = engine_factory(CONFIG, ports={"ENGINE_PORT": first.port})
        caller = register_worker(second.ws_url, InitOptions(invocation_timeout_ms=3000))
        deadline = time.monotonic() + 20
        while True:  # the SDK reconnects after 1 s ± jitter and registers its functions again
            try:
                result = caller.trigger({"function_id": "restart.echo", "payload": {"n": 7}})
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert result == {"echo": 7}
    finally:
        worker.shutdown()
        if caller is not None:
            caller.shutdown()
