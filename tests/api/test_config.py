"""The module's strict config: unknown keys and wrong types stop start-up with file:line."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any

import pytest

BASE = """port: {ENGINE_PORT}
modules:
  - class: modules::api::RestApiModule
    config:
      port: {HTTP_PORT}
"""


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        ("      trust_proxy: true\n", 6, "trust_proxy: unknown key"),
        ("      default_timeout: soon\n", 6, "default_timeout: expected an integer"),
        ("      cors:\n        allowed_origins: [a]\n        max_age: 3\n", 8, "cors.max_age: unknown key"),
        (
            "      cors:\n        allowed_methods: [1]\n",
            7,
            "cors.allowed_methods: expected a list of strings",
        ),
    ],
)
def test_bad_config_names_file_and_line(
    engine_factory: Callable[..., Any], extra: str, line: int, message: str
) -> None:
    with pytest.raises(RuntimeError) as failure:
        engine_factory(BASE + extra, wait_ports=("ENGINE_PORT",))
    log = str(failure.value)
    assert re.search(rf"config\.yaml:{line}: config\.{re.escape(message)}", log), log


def test_port_in_use_aborts_startup(engine_factory: Callable[..., Any]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError) as failure:
            engine_factory(BASE.replace("{HTTP_PORT}", str(port)) + "      host: 127.0.0.1\n")
    assert "RestApiModule" in str(failure.value)
    assert "in use" in str(failure.value)
