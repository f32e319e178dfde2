"""The client WebSocket on the stream port: subscriptions, pushes, auth, join/leave triggers,
bad frames and clients that never read."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.state.support import call, stream_config, unique, wait_registered, wait_until, workers
from tests.state.test_state_events import collector
from tests.stream.support import nothing_arrives, receive, stream_client, subscription


def put(client, stream: str, group: str, item_id: str, data: Any) -> None:
    call(client, "stream::set", {"stream_name": stream, "group_id": group, "item_id": item_id, "data": data})


def test_group_and_item_subscriptions_receive_pushes(stream_engine) -> None:
    stream, group = unique("chat"), unique("room")
    with workers(stream_engine.ws_url) as (client,), stream_client(stream_engine) as ws:
        put(client, stream, group, "m0", {"t": "before"})
        time.sleep(0.3)  # its event (through Redis pub/sub) is out before we join
        ws.send(subscription("join", "all", stream, group))
        sync = receive(ws)
        assert sync["type"] == "stream" and sync["id"] is None
        assert (sync["streamName"], sync["groupId"], sync["event"]) == (
            stream,
            group,
            {"type": "sync", "data": [{"t": "before"}]},
        )
        ws.send(subscription("join", "one", stream, group, "m1"))
        assert receive(ws)["event"] == {"type": "sync", "data": None}

        put(client, stream, group, "m1", {"t": "hi"})  # both subscriptions match: two frames
        first, second = receive(ws), receive(ws)
        assert (
            first == second
            and first["id"] == "m1"
            and first["event"] == {"type": "create", "data": {"t": "hi"}}
        )
        put(client, stream, group, "m2", 2)  # only the group subscription matches
        assert receive(ws)["event"] == {"type": "create", "data": 2}
        assert nothing_arrives(ws)
        put(client, stream, group, "m2", 3)
        assert receive(ws)["event"] == {"type": "update", "data": 3}
        call(
            client,
            "stream::send",
            {"stream_name": stream, "group_id": group, "type": "typing", "data": {"u": 1}},
        )
        assert receive(ws)["event"] == {"type": "event", "event": {"type": "typing", "data": {"u": 1}}}
        assert nothing_arrives(ws)  # no id: item subscriptions do not get it
        call(client, "stream::delete", {"stream_name": stream, "group_id": group, "item_id": "m2"})
        assert receive(ws)["event"] == {"type": "delete", "data": 3}
        put(client, stream, unique("other-group"), "m1", 1)
        assert nothing_arrives(ws)

        ws.send(subscription("leave", "all", stream, group))
        time.sleep(0.2)
        put(client, stream, group, "m3", 1)
        assert nothing_arrives(ws)
        call(client, "stream::update", {"stream_name": stream, "group_id": group, "item_id": "m1", "ops": []})
        assert receive(ws)["event"] == {"type": "update", "data": {"t": "hi"}}


def test_auth_context_join_refusal_and_leave_triggers(engine_factory, key_prefix) -> None:
    config = stream_config("memory", key_prefix, "      auth_function: test.stream.auth\n")
    engine = engine_factory(config, wait_ports=("ENGINE_PORT", "STREAM_PORT"))
    stream = unique("private")
    with workers(engine.ws_url) as (client,):
        auth_inputs = collector(client, "test.stream.auth.seen")

        async def auth(data: Any) -> dict[str, Any]:
            auth_inputs.append(data)
            return {"context": {"user": data["query_params"].get("user", ["?"])[0]}}

        async def on_join(event: dict[str, Any]) -> dict[str, Any]:
            return {"unauthorized": event["group_id"] == "secret"}

        client.register_function({"id": "test.stream.auth"}, auth)
        client.register_function({"id": "test.stream.on_join"}, on_join)
        leaves = collector(client, "test.stream.on_leave")
        client.register_trigger({"type": "stream:join", "function_id": "test.stream.on_join", "config": {}})
        client.register_trigger({"type": "stream:leave", "function_id": "test.stream.on_leave", "config": {}})
        wait_registered(
            client, functions=["test.stream.auth"], triggers=["test.stream.on_join", "test.stream.on_leave"]
        )
        with stream_client(engine, "/?user=ada&x=a%20b&x=2") as ws:
            ws.send(subscription("join", "s1", stream, "secret"))
            refused = receive(ws)
            assert refused["event"] == {"type": "unauthorized"} and refused["groupId"] == "secret"
            ws.send(subscription("join", "s2", stream, "open", "item-1"))
            assert receive(ws)["event"] == {"type": "sync", "data": None}
            ws.send(subscription("join", "s3", stream, "open"))
            assert receive(ws)["event"]["type"] == "sync"
            ws.send(subscription("leave", "s3", stream, "open"))
            wait_until(lambda: leaves)
        wait_until(lambda: len(leaves) == 2)
        assert leaves == [
            {
                "subscription_id": "s3",
                "stream_name": stream,
                "group_id": "open",
                "id": None,
                "context": {"user": "ada"},
            },
            {
                "subscription_id": "s2",
                "stream_name": stream,
                "group_id": "open",
                "id": "item-1",
                "context": {"user": "ada"},
            },
        ]
        (seen,) = auth_inputs
        assert seen["path"] == "/" and seen["query_params"] == {"user": ["ada"], "x": ["a%20b", "2"]}
        assert seen["headers"]["host"].startswith("127.0.0.1:") and seen["addr"].startswith("127.0.0.1:")


def test_malformed_frames_are_ignored(memory_stream_engine) -> None:
    stream, group = unique("bad"), unique("g")
    with workers(memory_stream_engine.ws_url) as (client,), stream_client(memory_stream_engine) as ws:
        for frame in [
            "not json",
            "[1, 2]",
            json.dumps({"type": "subscribe", "data": {}}),
            json.dumps({"type": "join"}),
            json.dumps(
                {"type": "join", "data": {"subscriptionId": 1, "streamName": stream, "groupId": group}}
            ),
            json.dumps({"type": "join", "data": {"subscriptionId": "x", "streamName": stream}}),
            json.dumps(
                {"type": "JOIN", "data": {"subscriptionId": "x", "streamName": stream, "groupId": group}}
            ),
        ]:
            ws.send(frame)
        assert nothing_arrives(ws)
        ws.send(subscription("join", "ok", stream, group).encode())  # binary frames work too
        assert receive(ws)["event"] == {"type": "sync", "data": []}
        put(client, stream, group, "i", 1)
        assert receive(ws)["event"] == {"type": "create", "data": 1}
        ws.ping().wait(5)


def test_only_the_root_path_is_served(memory_stream_engine) -> None:
    with pytest.raises(InvalidStatus) as refused:
        with stream_client(memory_stream_engine, "/stream/chat/room"):
            pass
    assert refused.value.response.status_code == 404
    with socket.create_connection(("127.0.0.1", memory_stream_engine.ports["STREAM_PORT"])):
        pass  # a bare TCP probe is shrugged off
    with stream_client(memory_stream_engine) as ws:
        ws.ping().wait(5)


def raw_subscriber(port: int, stream: str, group: str) -> socket.socket:
    """A client that completes the handshake, joins, and then never reads."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    payload = subscription("join", "slow", stream, group).encode()
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    received = b""
    while b'"sync"' not in received:  # subscribed: from now on it only receives
        received += sock.recv(4096)
    return sock


@pytest.mark.timeout(120)
def test_a_client_that_never_reads_is_dropped_and_others_get_everything(memory_stream_engine) -> None:
    stream, group = unique("flood"), unique("g")
    big = "x" * 200_000
    updates = 120
    with (
        workers(memory_stream_engine.ws_url) as (client,),
        stream_client(memory_stream_engine, max_queue=None) as ws,  # reads as fast as it can
    ):
        slow = raw_subscriber(memory_stream_engine.ports["STREAM_PORT"], stream, group)
        ws.send(subscription("join", "fast", stream, group))
        receive(ws)
        for index in range(updates):
            put(client, stream, group, f"i{index}", {"n": index, "pad": big})
        received = [receive(ws)["event"]["data"]["n"] for _ in range(updates)]
        assert received == list(range(updates))
        wait_until(lambda: "client does not read its messages" in memory_stream_engine.log(), timeout=10)
        assert (
            call(client, "stream::get", {"stream_name": stream, "group_id": group, "item_id": "i0"})["n"] == 0
        )
        slow.close()


def test_sync_comes_first_even_while_the_group_changes(stream_engine) -> None:
    stream, group = unique("busy"), unique("g")
    with workers(stream_engine.ws_url) as (client,):
        writer = threading.Thread(
            target=lambda: [put(client, stream, group, f"i{n % 5}", n) for n in range(300)]
        )
        writer.start()
        try:
            for index in range(5):
                with stream_client(stream_engine) as ws:
                    ws.send(subscription("join", f"s{index}", stream, group))
                    first = receive(ws)
                    assert first["event"]["type"] == "sync"
                    assert all(receive(ws)["event"]["type"] in ("create", "update") for _ in range(3))
        finally:
            writer.join()


def test_failing_auth_and_join_functions_let_the_client_in_without_context(
    engine_factory, key_prefix
) -> None:
    config = stream_config("memory", key_prefix, "      auth_function: test.stream.no_such_auth\n")
    engine = engine_factory(config, wait_ports=("ENGINE_PORT", "STREAM_PORT"))
    stream = unique("lenient")
    with workers(engine.ws_url) as (client,):
        joins = collector(client, "test.stream.join_seen")

        async def broken_join(event: dict[str, Any]) -> None:
            raise RuntimeError("join check crashed")

        client.register_function({"id": "test.stream.broken_join"}, broken_join)
        for function_id in ("test.stream.broken_join", "test.stream.join_seen"):
            client.register_trigger({"type": "stream:join", "function_id": function_id, "config": {}})
        wait_registered(client, triggers=["test.stream.broken_join", "test.stream.join_seen"])
        with stream_client(engine) as ws:
            ws.send(subscription("join", "s", stream, "g"))
            assert receive(ws)["event"] == {"type": "sync", "data": []}
        assert [event["context"] for event in joins] == [None]
