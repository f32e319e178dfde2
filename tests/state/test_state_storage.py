"""What storage promises beyond one process: restarts, crashes, several engines, start-up errors."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.state.support import REDIS_URL, call, state_config, unique, wait_registered, wait_until, workers
from tests.state.test_state_events import collector


def fill(url: str, scope: str) -> None:
    with workers(url) as (client,):
        call(client, "state::set", {"scope": scope, "key": "a", "value": {"x": 1}})
        ops = [{"type": "increment", "path": "n", "by": 3}]
        call(client, "state::update", {"scope": scope, "key": "b", "ops": ops})
        call(client, "state::set", {"scope": scope, "key": "ttl", "value": 1, "ttl_ms": 60_000})
        call(client, "state::set", {"scope": scope, "key": "gone", "value": 1})
        call(client, "state::delete", {"scope": scope, "key": "gone"})


def check_filled(url: str, scope: str) -> None:
    with workers(url) as (client,):
        assert call(client, "state::get", {"scope": scope, "key": "a"}) == {"x": 1}
        assert call(client, "state::get", {"scope": scope, "key": "b"}) == {"n": 3}
        assert call(client, "state::get", {"scope": scope, "key": "ttl"}) == 1
        assert call(client, "state::get", {"scope": scope, "key": "gone"}) is None
        assert scope in call(client, "state::list_groups", {})["groups"]


def test_file_store_survives_a_restart(engine_in, key_prefix) -> None:
    scope = unique("persist")
    engine = engine_in(state_config("file", key_prefix))
    fill(engine.ws_url, scope)
    assert engine.stop() == 0
    check_filled(engine_in(state_config("file", key_prefix)).ws_url, scope)


def test_file_store_after_a_crash_keeps_flushed_writes_and_valid_files(engine_in, key_prefix) -> None:
    scope = unique("crash")
    engine = engine_in(state_config("file", key_prefix))
    fill(engine.ws_url, scope)
    time.sleep(0.5)  # several save intervals
    engine.stop(signal.SIGKILL)
    directory = engine.workdir / "data" / "state"
    for path in directory.glob("*.json"):
        assert json.loads(path.read_text())["scope"] == scope
    assert not list(directory.glob("*.tmp"))
    check_filled(engine_in(state_config("file", key_prefix)).ws_url, scope)


def test_corrupt_store_file_fails_start_up_with_its_name(engine_in, key_prefix, tmp_path) -> None:
    directory = tmp_path / "engine" / "data" / "state"
    directory.mkdir(parents=True)
    (directory / "state-0123.json").write_text('{"scope": "x", "items": [')
    with pytest.raises(RuntimeError, match=r"cannot read the store file .*state-0123\.json"):
        engine_in(state_config("file", key_prefix))
    assert (directory / "state-0123.json").read_text() == '{"scope": "x", "items": ['


def test_two_engines_share_state_through_redis(engine_factory, key_prefix) -> None:
    first = engine_factory(state_config("redis", key_prefix), name="a")
    second = engine_factory(state_config("redis", key_prefix), name="b")
    scope = unique("shared")
    with workers(first.ws_url) as (left,), workers(second.ws_url) as (right,):
        call(left, "state::set", {"scope": scope, "key": "k", "value": {"from": "a"}})
        assert call(right, "state::get", {"scope": scope, "key": "k"}) == {"from": "a"}
        assert call(right, "state::set", {"scope": scope, "key": "k", "value": 2})["old_value"] == {
            "from": "a"
        }
        assert call(right, "state::delete", {"scope": scope, "key": "k"}) == 2
        assert call(left, "state::get", {"scope": scope, "key": "k"}) is None


def test_expiry_is_reported_once_across_engines(engine_factory, key_prefix) -> None:
    engines = [engine_factory(state_config("redis", key_prefix), name=name) for name in ("a", "b")]
    scope = unique("expiry")
    with workers(engines[0].ws_url) as (left,), workers(engines[1].ws_url) as (right,):
        events = []
        for index, client in enumerate((left, right)):
            received = collector(client, f"test.state.expired.{index}")
            events.append(received)
            client.register_trigger(
                {"type": "state", "function_id": f"test.state.expired.{index}", "config": {"scope": scope}}
            )
            wait_registered(client, triggers=[f"test.state.expired.{index}"])
        for index in range(5):
            call(left, "state::set", {"scope": scope, "key": f"k{index}", "value": index, "ttl_ms": 200})
        wait_until(lambda: sum(len(e) for e in events) >= 10)
        time.sleep(1.0)
        expired = [e["key"] for received in events for e in received if e["event_type"] == "state:expired"]
        assert sorted(expired) == [f"k{index}" for index in range(5)]


def test_unreachable_redis_fails_start_up(engine_factory) -> None:
    config = state_config("redis", "x:").replace(REDIS_URL, "redis://127.0.0.1:1/1")
    with pytest.raises(RuntimeError, match=r"cannot connect to Redis at redis://127\.0\.0\.1:1/1"):
        engine_factory(config)


def test_unknown_config_keys_fail_start_up(engine_factory) -> None:
    config = "port: {ENGINE_PORT}\nmodules:\n  - class: modules::state::StateModule\n    config:\n"
    config += "      adaptor: {}\n"
    with pytest.raises(RuntimeError, match=r"config.yaml:5: config.adaptor: unknown key"):
        engine_factory(config)
