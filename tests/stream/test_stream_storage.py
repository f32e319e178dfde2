"""Stream storage beyond one process (restart, two engines on Redis) and start-up errors."""

from __future__ import annotations

import socket

import pytest

from tests.state.support import REDIS_URL, call, stream_config, unique, workers
from tests.stream.support import receive, stream_client, subscription

BOTH_PORTS = ("ENGINE_PORT", "STREAM_PORT")


def test_clients_of_one_engine_see_writes_made_through_another(engine_factory, key_prefix) -> None:
    first = engine_factory(stream_config("redis", key_prefix), name="a", wait_ports=BOTH_PORTS)
    second = engine_factory(stream_config("redis", key_prefix), name="b", wait_ports=BOTH_PORTS)
    stream, group = unique("shared"), unique("g")
    with workers(second.ws_url) as (writer,), stream_client(first) as ws, stream_client(second) as local:
        for client in (ws, local):
            client.send(subscription("join", "s", stream, group))
            assert receive(client)["event"] == {"type": "sync", "data": []}
        item = {"stream_name": stream, "group_id": group, "item_id": "i"}
        call(writer, "stream::set", {**item, "data": {"v": 1}})
        for client in (ws, local):  # the writing engine's own clients get it exactly once too
            message = receive(client)
            assert (message["id"], message["event"]) == ("i", {"type": "create", "data": {"v": 1}})
        call(writer, "stream::send", {"stream_name": stream, "group_id": group, "type": "ping", "data": None})
        assert receive(ws)["event"] == {"type": "event", "event": {"type": "ping", "data": None}}
        with workers(first.ws_url) as (reader,):
            assert call(reader, "stream::get", item) == {"v": 1}
            assert call(reader, "stream::list_groups", {"stream_name": stream}) == [group]


def test_file_store_survives_a_restart(engine_in, key_prefix) -> None:
    stream, group = unique("kept"), unique("g")
    config = stream_config("file", key_prefix)
    engine = engine_in(config, wait_ports=BOTH_PORTS)
    with workers(engine.ws_url) as (client,):
        for index in range(3):
            data = {"n": index}
            call(
                client,
                "stream::set",
                {"stream_name": stream, "group_id": group, "item_id": f"i{index}", "data": data},
            )
    assert engine.stop() == 0
    restarted = engine_in(config, wait_ports=BOTH_PORTS)
    with workers(restarted.ws_url) as (client,), stream_client(restarted) as ws:
        listing = call(client, "stream::list_all", {})
        assert {"id": stream, "groups": [group]} in listing["stream"]
        ws.send(subscription("join", "s", stream, group))
        assert sorted(item["n"] for item in receive(ws)["event"]["data"]) == [0, 1, 2]


def test_bind_address_must_be_an_ip(engine_factory) -> None:
    config = stream_config("memory", "x").replace("host: 127.0.0.1", "host: localhost")
    with pytest.raises(RuntimeError, match="invalid stream bind address 'localhost'"):
        engine_factory(config)


def test_port_in_use_fails_start_up(engine_factory) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = stream_config("memory", "x").replace("{STREAM_PORT}", str(taken.getsockname()[1]))
        with pytest.raises(RuntimeError, match="failed to initialize module 'modules::stream::StreamModule'"):
            engine_factory(config)


def test_unreachable_redis_fails_start_up(engine_factory) -> None:
    config = stream_config("redis", "x:").replace(REDIS_URL, "redis://127.0.0.1:1/1")
    with pytest.raises(RuntimeError, match=r"cannot connect to Redis at redis://127\.0\.0\.1:1/1"):
        engine_factory(config)
