"""The ``stream::*`` functions through a real worker, on every adapter (memory, file, Redis)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from iii.stream import IStream, StreamDeleteResult, StreamSetResult

from tests.state.support import call, call_error, unique, wait_registered, wait_until, workers
from tests.state.test_state_events import collector


def item(stream: str, group: str, item_id: str, **extra: Any) -> dict[str, Any]:
    return {"stream_name": stream, "group_id": group, "item_id": item_id, **extra}


def test_set_get_delete_list(stream_engine) -> None:
    with workers(stream_engine.ws_url) as (client,):
        stream, group = unique("chat"), unique("room")
        assert call(client, "stream::set", item(stream, group, "m1", data={"t": "hi"})) == {
            "old_value": None,
            "new_value": {"t": "hi"},
        }
        assert call(client, "stream::set", item(stream, group, "m1", data={"t": "edited"})) == {
            "old_value": {"t": "hi"},
            "new_value": {"t": "edited"},
        }
        call(client, "stream::set", item(stream, group, "m2", data=None))
        assert call(client, "stream::get", item(stream, group, "m1")) == {"t": "edited"}
        assert call(client, "stream::get", item(stream, group, "nope")) is None
        assert sorted(
            map(repr, call(client, "stream::list", {"stream_name": stream, "group_id": group}))
        ) == [
            "None",
            "{'t': 'edited'}",
        ]
        assert call(client, "stream::delete", item(stream, group, "m1")) == {"old_value": {"t": "edited"}}
        assert call(client, "stream::delete", item(stream, group, "m1")) == {"old_value": None}
        assert call(client, "stream::get", item(stream, group, "m1")) is None
        assert call(client, "stream::list", {"stream_name": stream, "group_id": unique("none")}) == []


def test_list_groups_and_list_all(stream_engine) -> None:
    with workers(stream_engine.ws_url) as (client,):
        stream, odd = unique("s"), unique("odd:name%3A")
        for group in ("g2", "g1", "a:b"):
            call(client, "stream::set", item(stream, group, "i", data=1))
        call(client, "stream::set", item(odd, "x", "i", data=1))
        call(client, "stream::set", item(stream + "x", "other", "i", data=1))
        assert sorted(call(client, "stream::list_groups", {"stream_name": stream})) == ["a:b", "g1", "g2"]
        assert call(client, "stream::list_groups", {"stream_name": odd}) == ["x"]
        listing = call(client, "stream::list_all", {})
        streams = {entry["id"]: entry["groups"] for entry in listing["stream"]}
        assert streams[stream] == ["a:b", "g1", "g2"] and streams[odd] == ["x"]
        assert listing["count"] == len(listing["stream"])
        assert [entry["id"] for entry in listing["stream"]] == sorted(streams)


def test_update_and_bad_ops(stream_engine) -> None:
    with workers(stream_engine.ws_url) as (client,):
        stream, group = unique("u"), unique("g")
        ops = [{"type": "increment", "path": "n", "by": 2}, {"type": "set", "path": "s", "value": "x"}]
        assert call(client, "stream::update", item(stream, group, "i", ops=ops)) == {
            "old_value": None,
            "new_value": {"n": 2, "s": "x"},
        }
        assert call(client, "stream::update", item(stream, group, "i", ops=ops))["new_value"] == {
            "n": 4,
            "s": "x",
        }
        error = call_error(
            client, "stream::update", item(stream, group, "i", ops=[{"type": "nope", "path": "n"}])
        )
        assert error["code"] == "deserialization_error" and "unknown variant `nope`" in error["message"]
        assert call(client, "stream::get", item(stream, group, "i")) == {"n": 4, "s": "x"}


@pytest.mark.parametrize(
    ("function_id", "payload", "detail"),
    [
        ("stream::set", {"stream_name": "s", "group_id": "g", "item_id": "i"}, "missing field `data`"),
        ("stream::get", {"stream_name": "s", "group_id": 1, "item_id": "i"}, "invalid type for `group_id`"),
        ("stream::send", {"stream_name": "s", "group_id": "g", "data": 1}, "missing field `type`"),
        ("stream::list_groups", {}, "missing field `stream_name`"),
        ("stream::list_all", [], "expected an object"),
    ],
)
def test_bad_input(stream_engine, function_id, payload, detail) -> None:
    with workers(stream_engine.ws_url) as (client,):
        error = call_error(client, function_id, payload)
        assert error["code"] == "deserialization_error"
        assert error["message"].startswith(f"Failed to deserialize input for {function_id}: ")
        assert detail in error["message"]


def test_stream_triggers_with_filters(stream_engine) -> None:
    with workers(stream_engine.ws_url) as (client,):
        stream, group = unique("t"), unique("g")
        everything = collector(client, "test.stream.all")
        one_item = collector(client, "test.stream.item")
        client.register_trigger(
            {"type": "stream", "function_id": "test.stream.all", "config": {"stream_name": stream}}
        )
        config = {"stream_name": stream, "group_id": group, "item_id": "watched"}
        client.register_trigger({"type": "stream", "function_id": "test.stream.item", "config": config})
        wait_registered(client, triggers=["test.stream.all", "test.stream.item"])
        call(client, "stream::set", item(stream, group, "watched", data=1))
        call(client, "stream::set", item(stream, group, "watched", data=2))
        call(client, "stream::set", item(stream, group, "other", data=3))
        call(client, "stream::delete", item(stream, group, "missing"))  # nothing deleted: no event
        call(client, "stream::delete", item(stream, group, "other"))
        call(
            client,
            "stream::send",
            {"stream_name": stream, "group_id": group, "type": "typing", "data": {"u": 1}},
        )
        call(client, "stream::set", item(unique("elsewhere"), group, "watched", data=1))
        wait_until(lambda: len(everything) >= 5)
        time.sleep(0.3)
        assert [(m["id"], m["event"]["type"]) for m in everything] == [
            ("watched", "create"),
            ("watched", "update"),
            ("other", "create"),
            ("other", "delete"),
            (None, "event"),
        ]
        assert everything[3]["event"]["data"] == 3
        assert everything[4]["event"] == {"type": "event", "event": {"type": "typing", "data": {"u": 1}}}
        assert all(
            m["type"] == "stream" and m["streamName"] == stream and m["groupId"] == group for m in everything
        )
        assert isinstance(everything[0]["timestamp"], int)
        assert [m["event"]["data"] for m in one_item] == [1, 2]


def test_stream_trigger_without_stream_name_is_refused(stream_engine) -> None:
    with workers(stream_engine.ws_url) as (client,):
        collector(client, "test.stream.refused")
        client.register_trigger({"type": "stream", "function_id": "test.stream.refused", "config": {}})
        time.sleep(0.3)
        listed = call(client, "engine::triggers::list", {})["triggers"]
        assert not [t for t in listed if t["function_id"] == "test.stream.refused"]
        assert call(client, "stream::list_all", {})["count"] >= 0


class MemoryStream(IStream[Any]):
    """A worker-side stream implementation, like upstream's test_streams.py."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Any] = {}

    async def get(self, input: Any) -> Any:
        return self.items.get((input.group_id, input.item_id))

    async def set(self, input: Any) -> StreamSetResult[Any]:
        old = self.items.get((input.group_id, input.item_id))
        self.items[(input.group_id, input.item_id)] = input.data
        return StreamSetResult(old_value=old, new_value=input.data)

    async def delete(self, input: Any) -> StreamDeleteResult:
        return StreamDeleteResult(old_value=self.items.pop((input.group_id, input.item_id), None))

    async def list(self, input: Any) -> list[Any]:
        return [value for (group, _), value in self.items.items() if group == input.group_id]

    async def list_groups(self, input: Any) -> list[str]:
        return sorted({group for group, _ in self.items})

    async def update(self, input: Any) -> Any:
        raise NotImplementedError


def test_custom_stream_overrides(stream_engine) -> None:
    with workers(stream_engine.ws_url) as (owner,), workers(stream_engine.ws_url) as (client,):
        name = unique("custom")
        custom = MemoryStream()
        owner.create_stream(name, custom)
        events = collector(owner, "test.stream.custom")
        owner.register_trigger(
            {"type": "stream", "function_id": "test.stream.custom", "config": {"stream_name": name}}
        )
        wait_registered(
            owner,
            functions=[f"stream::{op}({name})" for op in ("get", "set", "delete", "list", "list_groups")],
            triggers=["test.stream.custom"],
        )
        assert call(client, "stream::set", item(name, "g", "i", data={"v": 1})) == {
            "old_value": None,
            "new_value": {"v": 1},
        }
        assert custom.items == {("g", "i"): {"v": 1}}
        assert call(client, "stream::get", item(name, "g", "i")) == {"v": 1}
        assert call(client, "stream::list", {"stream_name": name, "group_id": "g"}) == [{"v": 1}]
        assert call(client, "stream::list_groups", {"stream_name": name}) == ["g"]
        assert call(client, "stream::delete", item(name, "g", "i")) == {"old_value": {"v": 1}}
        assert call(client, "stream::get", item(name, "g", "i")) is None
        assert call(client, "stream::list_all", {})["stream"] == [
            e for e in call(client, "stream::list_all", {})["stream"] if e["id"] != name
        ]
        wait_until(lambda: len(events) >= 2)
        assert [m["event"]["type"] for m in events] == ["create", "delete"]


def test_custom_stream_failure_becomes_stream_error(stream_engine) -> None:
    with workers(stream_engine.ws_url) as (owner,), workers(stream_engine.ws_url) as (client,):
        name = unique("broken")

        async def broken(data: Any) -> Any:
            raise RuntimeError("disk on fire")

        async def nothing(data: Any) -> None:
            return None

        owner.register_function({"id": f"stream::set({name})"}, broken)
        owner.register_function({"id": f"stream::delete({name})"}, nothing)
        wait_registered(owner, functions=[f"stream::set({name})", f"stream::delete({name})"])
        error = call_error(client, "stream::set", item(name, "g", "i", data=1))
        assert error["code"] == "STREAM_SET_ERROR" and error["message"].startswith("Failed to set value: ")
        error = call_error(client, "stream::delete", item(name, "g", "i"))
        assert error["code"] == "STREAM_DELETE_ERROR"


def test_update_override_receives_the_ops_and_its_result_is_published(stream_engine) -> None:
    with workers(stream_engine.ws_url) as (owner,), workers(stream_engine.ws_url) as (client,):
        name = unique("custom-update")
        calls: list[dict[str, Any]] = []

        async def update(data: dict[str, Any]) -> dict[str, Any]:
            calls.append(data)
            return {"old_value": {"n": 1}, "new_value": {"n": 2}}

        owner.register_function({"id": f"stream::update({name})"}, update)
        events = collector(owner, "test.stream.custom_update.events")
        owner.register_trigger(
            {
                "type": "stream",
                "function_id": "test.stream.custom_update.events",
                "config": {"stream_name": name},
            }
        )
        wait_registered(
            owner, functions=[f"stream::update({name})"], triggers=["test.stream.custom_update.events"]
        )
        ops = [{"type": "increment", "path": "n", "by": 1}]
        result = call(client, "stream::update", item(name, "g", "i", ops=ops))
        assert result == {"old_value": {"n": 1}, "new_value": {"n": 2}}
        assert calls == [{"stream_name": name, "group_id": "g", "item_id": "i", "ops": ops}]
        wait_until(lambda: events)
        assert events[0]["event"] == {"type": "update", "data": {"n": 2}}
        assert call(client, "stream::get", item(name, "g", "i")) is None  # the adapter was not touched
