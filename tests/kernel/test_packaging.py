"""``iii-core`` alone in a fresh virtualenv, and a third-party module installed beside it."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from iii import InitOptions, register_worker

from tests.conftest import EngineProcess
from tests.kernel.rawworker import RawWorker
from tests.kernel.venvs import create_venv, run_iii, start_iii

pytestmark = pytest.mark.timeout(300)

GREETER_SOURCE = '''
"""A third-party module: one engine function, strict config."""

from iii_engine import Input, Invocation, Module, hookimpl


class GreeterModule(Module):
    logger_name = "acme::greeter"

    def __init__(self, engine, config):
        super().__init__(engine, config)
        self.greeting = config.str("greeting", "Hello")
        config.reject_unknown()

    @hookimpl
    def iii_module_register(self):
        self.engine.register_function("acme::greet", self.greet, description="Greet someone")

    async def greet(self, invocation: Invocation):
        name = Input(invocation.function_id, invocation.data).required("name", str)
        return {"message": f"{self.greeting}, {name}!"}
'''

GREETER_PYPROJECT = """
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "acme-greeter"
version = "1.2.3"
dependencies = ["iii-core"]

[project.entry-points."iii.modules"]
"acme::GreeterModule" = "acme_greeter:GreeterModule"

[tool.hatch.build.targets.wheel]
packages = ["acme_greeter"]
"""


def _greeter_distribution(where: Path) -> Path:
    (where / "acme_greeter").mkdir(parents=True)
    (where / "acme_greeter" / "__init__.py").write_text(GREETER_SOURCE)
    (where / "pyproject.toml").write_text(GREETER_PYPROJECT)
    return where


def _greeter_config(config: str) -> str:
    return "port: {ENGINE_PORT}\nmodules:\n  - class: acme::GreeterModule\n    config:\n" + textwrap.indent(
        config, " " * 6
    )


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_venv(tmp_path_factory.mktemp("core-only") / "venv")


@pytest.fixture
def engines() -> Iterator[list[EngineProcess]]:
    started: list[EngineProcess] = []
    yield started
    for engine in started:
        engine.stop()


async def test_core_alone_starts_and_serves_engine_functions(
    core_venv: Path, tmp_path: Path, engines: list[EngineProcess]
) -> None:
    engine = start_iii(core_venv, "port: {ENGINE_PORT}\n", tmp_path)
    engines.append(engine)
    worker = await RawWorker.connect(engine.ws_url)
    listed = (await worker.call("engine::functions::list", {"include_internal": True}))["result"]["functions"]
    assert "engine::workers::list" in {f["function_id"] for f in listed}
    await worker.close()
    assert engine.stop() == 0


async def test_without_flags_the_config_in_the_working_directory_is_used(
    core_venv: Path, tmp_path: Path, engines: list[EngineProcess]
) -> None:
    engine = start_iii(core_venv, "port: {ENGINE_PORT}\n", tmp_path, "run")
    engines.append(engine)
    worker = await RawWorker.connect(engine.ws_url)
    await worker.close()
    assert "using config file ./config.yaml" in engine.log()


def test_core_alone_version_and_modules(core_venv: Path, tmp_path: Path) -> None:
    version = run_iii(core_venv, "--version", cwd=tmp_path)
    assert (version.returncode, version.stdout.strip()) == (0, "0.9.0")
    listing = run_iii(core_venv, "modules", cwd=tmp_path)
    assert listing.returncode == 0
    rows = listing.stdout.splitlines()[1:]
    assert len(rows) == 2
    assert all("module" in row and "iii-core 0.1.0" in row for row in rows)
    assert {row.split()[0] for row in rows} == {
        "modules::worker::WorkerModule",
        "modules::telemetry::TelemetryModule",
    }


def test_default_config_and_config_flag_conflict(core_venv: Path, tmp_path: Path) -> None:
    outcome = run_iii(core_venv, "--use-default-config", "-c", "x.yaml", cwd=tmp_path)
    assert outcome.returncode == 2
    assert "cannot be used with" in outcome.stderr


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "port: 0\nmodules:\n  - class: modules::state::StateModule\n",
            ["config.yaml:3", "modules::state::StateModule", "pip install iii-state"],
        ),
        (
            "port: 0\nmodules:\n  - class: modules::state::adapters::Nope\n",
            ["config.yaml:3", "modules::state::adapters::Nope", "No installed distribution provides it"],
        ),
        ("port: 0\nmodules:\n  - class: nosuch.module:Thing\n", ["config.yaml:3", "nosuch.module:Thing"]),
        ("port: 0\nmodules:\n  - class: os:getcwd\n", ["config.yaml:3", "os:getcwd"]),
        ("port: abc\n", ["config.yaml:1", "port"]),
        ("port: 0\nmodules:\n  - config: {}\n", ["config.yaml:3", "class"]),
        ("port: 0\nmodules: {a: 1}\n", ["config.yaml:2", "modules"]),
        ("port: 0\nmodules:\n  - class: [unclosed\n", ["config.yaml", "line 4"]),
        ("port: 1\nport: 2\n", ["config.yaml", "line 2", "duplicate"]),
        ("# ${NOT_SET_ANYWHERE}\nport: 0\n", ["config.yaml", "line 1", "NOT_SET_ANYWHERE"]),
        ("port: 70000\n", ["config.yaml:1", "65535"]),
        ("- just\n- a list\n", ["config.yaml:1", "mapping"]),
    ],
)
def test_user_errors_exit_1_with_file_line_and_no_traceback(
    core_venv: Path, tmp_path: Path, config: str, expected: list[str]
) -> None:
    (tmp_path / "config.yaml").write_text(config)
    outcome = run_iii(core_venv, "-c", "config.yaml", cwd=tmp_path)
    assert outcome.returncode == 1, outcome.stdout + outcome.stderr
    text = outcome.stdout + outcome.stderr
    assert "Traceback" not in text
    for fragment in expected:
        assert fragment in outcome.stderr, outcome.stderr


def test_missing_config_file(core_venv: Path, tmp_path: Path) -> None:
    outcome = run_iii(core_venv, "-c", "missing.yaml", cwd=tmp_path)
    assert outcome.returncode == 1
    assert "Config file not found: 'missing.yaml'." in outcome.stderr
    assert "--use-default-config" in outcome.stderr


async def test_third_party_distribution_answers_a_python_worker(
    tmp_path: Path, engines: list[EngineProcess]
) -> None:
    venv = create_venv(tmp_path / "venv", _greeter_distribution(tmp_path / "dist"))
    listing = run_iii(venv, "modules", cwd=tmp_path)
    assert any(
        line.split()[:1] == ["acme::GreeterModule"] and "acme-greeter 1.2.3" in line
        for line in listing.stdout.splitlines()
    )
    engine = start_iii(venv, _greeter_config("greeting: Howdy\n"), tmp_path / "run")
    engines.append(engine)
    worker = register_worker(engine.ws_url, InitOptions(otel={"enabled": False}, invocation_timeout_ms=5000))
    try:
        answer = await asyncio.to_thread(
            worker.trigger, {"function_id": "acme::greet", "payload": {"name": "Ada"}}
        )
        assert answer == {"message": "Howdy, Ada!"}
        with pytest.raises(Exception, match="deserialization_error"):
            await asyncio.to_thread(worker.trigger, {"function_id": "acme::greet", "payload": {}})
    finally:
        worker.shutdown()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.yaml").write_text(
        _greeter_config("greeting: Hi\nshout: true\n").replace("{ENGINE_PORT}", "0")
    )
    refused = run_iii(venv, "-c", "config.yaml", cwd=tmp_path / "bad")
    assert refused.returncode == 1
    assert (
        "config.yaml:6: config.shout: unknown key" in refused.stderr
        and "acme::GreeterModule" in refused.stderr
    )


async def test_unpackaged_module_by_import_path(
    engine_factory: Callable[..., EngineProcess], tmp_path: Path
) -> None:
    (tmp_path / "local_mods").mkdir()
    (tmp_path / "local_mods" / "greeter.py").write_text(GREETER_SOURCE)
    config = "port: {ENGINE_PORT}\nmodules:\n  - class: greeter:GreeterModule\n    config: {greeting: Hey}\n"
    engine = engine_factory(config, env={"PYTHONPATH": str(tmp_path / "local_mods")})
    worker = await RawWorker.connect(engine.ws_url)
    assert (await worker.call("acme::greet", {"name": "Bo"}))["result"] == {"message": "Hey, Bo!"}
    await worker.close()
