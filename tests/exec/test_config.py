"""ExecModule's config is strict: a missing or mistyped key fails start-up with a clear message."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import EngineProcess

MODULE = "  - class: modules::shell::ExecModule\n"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "exec: is required"),
        ("    config: {exec: [echo hi], restart: always}\n", "restart: unknown key"),
        ("    config: {exec: echo hi}\n", "exec: expected a list"),
        ("    config: {exec: []}\n", "exec: needs at least one command"),
        ("    config: {exec: [echo hi, '']}\n", "exec: entry 1 must be a non-empty string"),
        ("    config: {exec: [echo hi], watch: [src/*.py, 3]}\n", "watch: entry 1 must be a glob string"),
    ],
)
def test_bad_config_fails_startup(
    engine_factory: Callable[..., EngineProcess], config: str, message: str
) -> None:
    with pytest.raises(RuntimeError) as failure:
        engine_factory("port: {ENGINE_PORT}\nmodules:\n" + MODULE + config)
    assert "failed to initialize module 'modules::shell::ExecModule'" in str(failure.value)
    assert message in str(failure.value)
