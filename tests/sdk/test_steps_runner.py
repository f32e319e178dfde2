"""``iii-steps run`` against an engine with the real api, state, queue, pub/sub and cron modules:
HTTP steps, queue/event/cron steps, conditions, errors, and broken step files that do not stop
the others."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from iii_steps import Worker

from tests.conftest import EngineProcess
from tests.sdk.helpers import eventually, get_json

ENGINE_CONFIG = """\
port: {ENGINE_PORT}
modules:
  - class: modules::api::RestApiModule
    config: {host: 127.0.0.1, port: {HTTP_PORT}, default_timeout: 10000}
  - class: modules::state::StateModule
  - class: modules::queue::QueueModule
    config:
      adapter: {class: modules::queue::BuiltinQueueAdapter, config: {backoff_ms: 100}}
  - class: modules::pubsub::PubSubModule
  - class: modules::cron::CronModule
  - class: modules::stream::StreamModule
    config: {host: 127.0.0.1, port: {STREAM_PORT}}
"""

STEPS = {
    "echo_step.py": """
        config = {"type": "api", "name": "Echo", "path": "/echo/:id", "method": "POST", "flows": ["t"]}

        async def handler(req, ctx):
            ctx.logger.info("echo", {"id": req.path_params["id"]})
            return {
                "status": 201,
                "headers": {"x-step": "echo"},
                "body": {"id": req.path_params["id"], "body": req.body, "q": req.query_params,
                         "trace_id": ctx.trace_id, "trigger": ctx.trigger.type},
            }
    """,
    "sync_step.py": """
        config = {"type": "api", "name": "SyncHello", "path": "/hello", "method": "GET"}

        def handler(req, ctx):
            return {"status": 200, "body": {"hello": req.query_params.get("name", "world")}}
    """,
    "fail_step.py": """
        config = {"type": "api", "name": "Fail", "path": "/fail", "method": "GET"}

        async def handler(req, ctx):
            raise RuntimeError("kaboom")
    """,
    "guarded_step.py": """
        def allowed(req, ctx):
            return req.headers.get("x-allow") == "yes"

        config = {"name": "Guarded", "triggers": [
            {"type": "http", "method": "GET", "path": "/guarded", "condition": allowed}]}

        async def handler(req, ctx):
            return {"status": 200, "body": {"ok": True}}
    """,
    "submit_step.py": """
        config = {"type": "api", "name": "Submit", "path": "/jobs", "method": "POST"}

        async def handler(req, ctx):
            await ctx.enqueue("jobs", {"job": req.body["job"]})
            await ctx.publish("news", {"job": req.body["job"]})
            return {"status": 202, "body": {"queued": req.body["job"], "trace_id": ctx.trace_id}}
    """,
    "work_step.py": """
        config = {"type": "queue", "name": "Work", "topic": "jobs"}

        async def handler(job, ctx):
            await ctx.state.set("jobs", job["job"], {"done": True, "trace": ctx.trace_id})
    """,
    "listen_step.py": """
        config = {"type": "event", "name": "Listen", "subscribes": ["news"]}

        async def handler(event, ctx):
            await ctx.state.update("news", "count", [{"type": "increment", "path": "n", "by": 1}])
    """,
    "tick_step.py": """
        config = {"type": "cron", "name": "Tick", "cron": "* * * * * *"}

        async def handler(tick, ctx):
            await ctx.state.update("ticks", "count", [{"type": "increment", "path": "n", "by": 1}])
    """,
    "read_step.py": """
        config = {"type": "api", "name": "Read", "path": "/state/:scope/:key", "method": "GET"}

        async def handler(req, ctx):
            value = await ctx.state.get(req.path_params["scope"], req.path_params["key"])
            return {"status": 200 if value is not None else 404, "body": value}
    """,
    "download_step.py": """
        config = {"type": "api", "name": "Download", "path": "/download", "method": "GET"}

        async def handler(req, ctx):
            async with req.response as out:
                await out.send_message({"type": "set_status", "status_code": 206})
                await out.send_message({"type": "set_headers", "headers": {"content-type": "text/plain"}})
                await out.write(b"hello ")
                await out.write(b"world")
    """,
    "upload_step.py": """
        config = {"type": "api", "name": "Upload", "path": "/upload", "method": "POST"}

        async def handler(req, ctx):
            content = await req.request_body.read_all()
            return {"status": 200, "body": {"size": len(content), "head": content[:4].decode()}}
    """,
    "audit_step.py": """
        config = {"name": "Audit", "triggers": [{"type": "state", "scope": "jobs"}]}

        async def handler(event, ctx):
            await ctx.state.set("audit", event["key"], {"event": event["event_type"]})
    """,
    "context_step.py": """
        config = {"type": "api", "name": "ContextTour", "path": "/tour/:run", "method": "POST"}

        async def handler(req, ctx):
            scope, seen = f"tour-{req.path_params['run']}", {}
            await ctx.state.set(scope, "a", {"n": 1})
            seen["update"] = await ctx.state.update(scope, "a", [{"type": "increment", "path": "n", "by": 2}])
            seen["get"] = await ctx.state.get(scope, "a")
            seen["list"] = await ctx.state.list(scope)
            seen["in_groups"] = scope in await ctx.state.list_groups()
            seen["delete"] = await ctx.state.delete(scope, "a")
            seen["after_delete"] = await ctx.state.get(scope, "a")
            board = ctx.streams[scope]
            await board.set("g", "i1", {"v": 1})
            seen["stream_update"] = await board.update("g", "i1", [{"type": "set", "path": "v", "value": 2}])
            seen["stream_get"] = await board.get("g", "i1")
            seen["stream_list"] = await board.list("g")
            seen["stream_groups"] = await board.list_groups()
            await board.send("g", "ping", {"x": 1})
            seen["stream_delete"] = await board.delete("g", "i1")
            seen["same_stream"] = (await getattr(ctx.streams, scope).list("g")) == []
            return {"status": 200, "body": seen}
    """,
    "broken_step.py": """
        import does_not_exist
    """,
    "invalid_step.py": """
        config = {"type": "cron", "name": "BadCron", "cron": "every minute"}
        async def handler(i, c): pass
    """,
}


@pytest.fixture
def steps_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "steps"
    folder.mkdir()
    for name, source in STEPS.items():
        (folder / name).write_text(textwrap.dedent(source))
    return folder


@pytest.fixture
def run_steps_process(tmp_path: Path) -> Iterator[Callable[[Path, str], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(folder: Path, url: str) -> subprocess.Popen[str]:
        log = (tmp_path / f"steps-{len(started)}.log").open("w")
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "iii-steps"), "run", str(folder), "--engine", url],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@pytest.mark.timeout(90)
async def test_steps_served_end_to_end(
    engine_factory: Callable[..., EngineProcess],
    steps_folder: Path,
    run_steps_process: Callable[[Path, str], subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    engine = engine_factory(ENGINE_CONFIG, wait_ports=("ENGINE_PORT", "HTTP_PORT", "STREAM_PORT"))
    process = run_steps_process(steps_folder, engine.ws_url)
    base = f"http://127.0.0.1:{engine.ports['HTTP_PORT']}"

    async with aiohttp.ClientSession() as http:

        async def echo() -> Any:
            async with http.post(f"{base}/echo/42?x=1", json={"a": 1}) as response:
                assert response.status == 201, await response.text()
                assert response.headers["x-step"] == "echo"
                return await response.json()

        body = await eventually(echo)
        assert body["id"] == "42" and body["body"] == {"a": 1} and body["q"] == {"x": "1"}
        assert body["trigger"] == "http" and len(body["trace_id"]) == 32

        async with http.get(f"{base}/hello?name=ada") as response:
            assert await response.json() == {"hello": "ada"}
        async with http.get(f"{base}/fail") as response:
            assert response.status == 500
            assert (await response.json())["error"] == "kaboom"
        async with http.get(f"{base}/guarded") as response:
            assert response.status == 422
        async with http.get(f"{base}/guarded", headers={"x-allow": "yes"}) as response:
            assert response.status == 200

        async with http.post(f"{base}/tour/1") as response:
            assert response.status == 200, await response.text()
            tour = await response.json()
        assert tour == {
            "update": {"old_value": {"n": 1}, "new_value": {"n": 3}},
            "get": {"n": 3},
            "list": [{"n": 3}],
            "in_groups": True,
            "delete": {"n": 3},
            "after_delete": None,
            "stream_update": {"old_value": {"v": 1}, "new_value": {"v": 2}},
            "stream_get": {"v": 2},
            "stream_list": [{"v": 2}],
            "stream_groups": ["g"],
            "stream_delete": {"old_value": {"v": 2}},
            "same_stream": True,
        }

        async with http.get(f"{base}/download") as response:
            assert response.status == 206
            assert response.headers["content-type"] == "text/plain"
            assert await response.read() == b"hello world"
        async with http.post(f"{base}/upload", data=b"data" + bytes(100_000)) as response:
            assert await response.json() == {"size": 100_004, "head": "data"}

        async with http.post(f"{base}/jobs", json={"job": "j1"}) as response:
            assert response.status == 202
            submitted = await response.json()

        job = await eventually(lambda: get_json(http, f"{base}/state/jobs/j1"))
        assert await eventually(lambda: get_json(http, f"{base}/state/audit/j1")) == {
            "event": "state:created"
        }
        assert job["done"] is True
        assert job["trace"] == submitted["trace_id"]  # the queue message kept the producer's trace

        def counted(scope: str, at_least: int) -> Callable[[], Awaitable[None]]:
            async def check() -> None:
                assert (await get_json(http, f"{base}/state/{scope}/count"))["n"] >= at_least

            return check

        await eventually(counted("news", 1))
        await eventually(counted("ticks", 2))

    worker = Worker(engine.ws_url)
    await worker.start()
    try:
        listed = await worker.invoke("engine::functions::list", {})
        ids = {f["function_id"] for f in listed["functions"]}
        assert "steps::Echo::trigger::http(POST /echo/:id)" in ids
        assert "steps::Tick::trigger::cron(* * * * * *)" in ids
        assert "steps::Guarded::trigger::http(GET /guarded)::conditions::0" in ids
        echo_function = next(f for f in listed["functions"] if f["function_id"].startswith("steps::Echo"))
        assert echo_function["metadata"]["flows"] == ["t"]
        assert echo_function["metadata"]["filePath"].endswith("echo_step.py")
    finally:
        await worker.stop()

    assert process.poll() is None, "the steps process must keep running despite broken step files"
    log = (tmp_path / "steps-0.log").read_text()
    assert "broken_step.py — skipped: failed to import: ModuleNotFoundError" in log
    assert "invalid_step.py — skipped: invalid config" in log
    assert "must have 6 or 7 fields" in log
