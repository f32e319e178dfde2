"""``state`` triggers (filters, conditions, payloads) and key expiry, on every adapter."""

from __future__ import annotations

import time
from typing import Any

from tests.state.support import call, call_error, unique, wait_registered, wait_until, workers


def collector(client, function_id: str) -> list[dict[str, Any]]:
    """Register ``function_id`` on ``client``; the returned list receives its inputs."""
    received: list[dict[str, Any]] = []

    async def handler(data: Any) -> None:
        received.append(data)

    client.register_function({"id": function_id}, handler)
    return received


def test_trigger_payloads_for_create_update_delete(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        scope = unique("events")
        events = collector(client, "test.state.events")
        client.register_trigger(
            {"type": "state", "function_id": "test.state.events", "config": {"scope": scope}}
        )
        wait_registered(client, triggers=["test.state.events"])
        call(client, "state::set", {"scope": scope, "key": "k", "value": 1})
        call(
            client,
            "state::update",
            {"scope": scope, "key": "k", "ops": [{"type": "set", "path": "", "value": 2}]},
        )
        call(client, "state::delete", {"scope": scope, "key": "k"})
        call(client, "state::delete", {"scope": scope, "key": "never-existed"})
        call(client, "state::set", {"scope": unique("other"), "key": "k", "value": 1})
        wait_until(lambda: len(events) >= 4)
        time.sleep(0.3)
        kinds = [(e["event_type"], e["key"], e["old_value"], e["new_value"]) for e in events]
        assert kinds == [
            ("state:created", "k", None, 1),
            ("state:updated", "k", 1, 2),
            ("state:deleted", "k", 2, None),
            ("state:deleted", "never-existed", None, None),
        ]
        assert all(e["type"] == "state" and e["scope"] == scope for e in events)


def test_key_filter_and_condition_function(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        scope = unique("filtered")
        events = collector(client, "test.state.filtered")

        async def only_big(data: Any) -> bool:
            return (data.get("new_value") or 0) > 10

        client.register_function({"id": "test.state.only_big"}, only_big)
        config = {"scope": scope, "key": "watched", "condition_function_id": "test.state.only_big"}
        client.register_trigger({"type": "state", "function_id": "test.state.filtered", "config": config})
        wait_registered(client, functions=["test.state.only_big"], triggers=["test.state.filtered"])
        for key, value in [("watched", 5), ("other", 50), ("watched", 20)]:
            call(client, "state::set", {"scope": scope, "key": key, "value": value})
        wait_until(lambda: events)
        time.sleep(0.3)
        assert [(e["key"], e["new_value"]) for e in events] == [("watched", 20)]


def test_trigger_with_bad_config_is_refused(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        collector(client, "test.state.refused")
        client.register_trigger(
            {"type": "state", "function_id": "test.state.refused", "config": {"scope": 7}}
        )
        time.sleep(0.3)
        listed = call(client, "engine::triggers::list", {})["triggers"]
        assert not [t for t in listed if t["function_id"] == "test.state.refused"]


def test_ttl_expires_keys_and_fires_expired_event(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        scope = unique("ttl")
        events = collector(client, "test.state.ttl")
        client.register_trigger(
            {"type": "state", "function_id": "test.state.ttl", "config": {"scope": scope}}
        )
        wait_registered(client, triggers=["test.state.ttl"])
        call(client, "state::set", {"scope": scope, "key": "session", "value": {"u": 1}, "ttl_ms": 400})
        call(client, "state::set", {"scope": scope, "key": "kept", "value": 1, "ttl_ms": 400})
        call(client, "state::set", {"scope": scope, "key": "kept", "value": 2})  # set without ttl clears it
        ops = [{"type": "increment", "path": "n", "by": 1}]
        call(client, "state::update", {"scope": scope, "key": "counter", "ops": ops, "ttl_ms": 400})
        call(client, "state::update", {"scope": scope, "key": "counter", "ops": ops})  # keeps the deadline
        assert call(client, "state::get", {"scope": scope, "key": "session"}) == {"u": 1}
        expired = wait_until(lambda: [e for e in events if e["event_type"] == "state:expired"], timeout=5)
        wait_until(lambda: len([e for e in events if e["event_type"] == "state:expired"]) == 2)
        expired = [e for e in events if e["event_type"] == "state:expired"]
        assert sorted((e["key"], e["new_value"]) for e in expired) == [("counter", None), ("session", None)]
        assert {e["key"]: e["old_value"] for e in expired} == {"session": {"u": 1}, "counter": {"n": 2}}
        assert call(client, "state::get", {"scope": scope, "key": "session"}) is None
        assert call(client, "state::get", {"scope": scope, "key": "kept"}) == 2
        assert call(client, "state::list", {"scope": scope}) == [2]


def test_expired_key_reads_as_missing_before_the_sweep(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        scope = unique("ttl-read")
        call(client, "state::set", {"scope": scope, "key": "k", "value": 1, "ttl_ms": 1})
        time.sleep(0.01)
        assert call(client, "state::get", {"scope": scope, "key": "k"}) is None
        assert call(client, "state::set", {"scope": scope, "key": "k", "value": 2}) == {
            "old_value": None,
            "new_value": 2,
        }


def test_ttl_must_be_positive(state_engine) -> None:
    with workers(state_engine.ws_url) as (client,):
        error = call_error(client, "state::update", {"scope": "s", "key": "k", "ops": [], "ttl_ms": 0})
        assert error["code"] == "deserialization_error"
