"""The orders example end to end: its own config.yaml (ExecModule runs the steps), real HTTP
requests and a real stream client on the stream port, through state, queue, pub/sub and cron.
Also: editing a step file hot-reloads the steps."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import websockets

from tests.conftest import EngineProcess, free_port, start_engine
from tests.sdk.helpers import eventually, get_json

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "orders"


@pytest.fixture
def orders_app(tmp_path: Path) -> Iterator[EngineProcess]:
    """The example's config and steps in a work dir (where ExecModule runs the steps), on free ports."""
    workdir = tmp_path / "orders"
    shutil.copytree(EXAMPLE / "steps", workdir / "steps", ignore=shutil.ignore_patterns("__pycache__"))
    ports = {"ENGINE_PORT": free_port(), "HTTP_PORT": free_port(), "STREAM_PORT": free_port()}
    env = {
        "III_PORT": str(ports["ENGINE_PORT"]),
        "III_HTTP_PORT": str(ports["HTTP_PORT"]),
        "III_STREAM_PORT": str(ports["STREAM_PORT"]),
        "III_STEPS": str(Path(sys.executable).parent / "iii-steps"),
    }
    engine = start_engine(
        (EXAMPLE / "config.yaml").read_text(),
        workdir,
        ports=ports,
        env=env,
        wait_ports=("ENGINE_PORT", "HTTP_PORT", "STREAM_PORT"),
    )
    yield engine
    engine.stop()


async def _next_event(stream: Any, order_id: str, wanted_status: str) -> dict[str, Any]:
    while True:
        message = orjson.loads(await asyncio.wait_for(stream.recv(), 15))
        event = message["event"]
        if message.get("id") == order_id and event["type"] in ("create", "update"):
            if event["data"]["status"] == wanted_status:
                return message


async def _stats_become(http: aiohttp.ClientSession, base: str, expected: dict[str, int]) -> None:
    async def check() -> None:
        assert await get_json(http, f"{base}/stats") == expected

    await eventually(check, within=20)


@pytest.mark.timeout(120)
async def test_orders_flow(orders_app: EngineProcess) -> None:
    base = f"http://127.0.0.1:{orders_app.ports['HTTP_PORT']}"
    async with aiohttp.ClientSession() as http:
        await _stats_become(http, base, {"orders": 0, "items": 0})  # the steps are up

        async with websockets.connect(f"ws://127.0.0.1:{orders_app.ports['STREAM_PORT']}/") as stream:
            join = {"subscriptionId": "s1", "streamName": "orders", "groupId": "all"}
            await stream.send(orjson.dumps({"type": "join", "data": join}).decode())
            sync = orjson.loads(await asyncio.wait_for(stream.recv(), 10))
            assert sync["event"] == {"type": "sync", "data": []}

            async with http.post(f"{base}/orders", json={"item": "tea", "quantity": 3}) as response:
                assert response.status == 201, await response.text()
                order = await response.json()
            assert order["status"] == "pending" and order["item"] == "tea"

            created = await _next_event(stream, order["id"], "pending")
            assert created["event"]["type"] == "create" and created["streamName"] == "orders"
            await _next_event(stream, order["id"], "processing")  # queue step
            await _next_event(stream, order["id"], "shipped")  # cron step

        async with http.get(f"{base}/orders/{order['id']}") as response:
            assert (await response.json())["status"] == "shipped"
        async with http.get(f"{base}/orders") as response:
            assert [o["id"] for o in (await response.json())["orders"]] == [order["id"]]
        await _stats_become(http, base, {"orders": 1, "items": 3})  # pub/sub step

        async with http.post(f"{base}/orders", json={"item": "", "quantity": 0}) as response:
            assert response.status == 400
            assert len((await response.json())["errors"]) == 2
        async with http.get(f"{base}/orders/nope") as response:
            assert response.status == 404


@pytest.mark.timeout(120)
async def test_editing_a_step_hot_reloads(orders_app: EngineProcess) -> None:
    base = f"http://127.0.0.1:{orders_app.ports['HTTP_PORT']}"
    async with aiohttp.ClientSession() as http:
        await _stats_become(http, base, {"orders": 0, "items": 0})
        step = orders_app.workdir / "steps" / "stats_step.py"
        step.write_text(
            step.read_text().replace('{"orders": 0, "items": 0}', '{"orders": 0, "items": 0, "v": 2}')
        )
        await _stats_become(http, base, {"orders": 0, "items": 0, "v": 2})
