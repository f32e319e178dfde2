"""A Node iii-sdk@0.9.0 worker behind HTTP routes: JSON results and a streamed response."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import node_sdk_dir

from .conftest import Api

WORKER = """
import { registerWorker, http } from 'iii-sdk'

const iii = registerWorker(process.env.III_URL, { otel: { enabled: false } })
iii.registerFunction({ id: 'node.hello' }, async (req) => ({
  status_code: 200,
  body: { hello: req.path_params.name, q: req.query_params.q, method: req.method, body: req.body },
}))
iii.registerTrigger({ type: 'http', function_id: 'node.hello',
                      config: { api_path: 'node/hello/:name', http_method: 'POST' } })
iii.registerFunction({ id: 'node.stream' }, http(async (req, res) => {
  res.status(201)
  res.headers({ 'content-type': 'text/plain' })
  res.stream.write('streamed ')
  res.stream.end('from node')
}))
iii.registerTrigger({ type: 'http', function_id: 'node.stream', config: { api_path: 'node/stream' } })
"""


@pytest.fixture
def node_worker(api: Api, tmp_path: Path):  # type: ignore[no-untyped-def]
    sdk = node_sdk_dir()
    if sdk is None:
        pytest.skip("node/npm not installed")
    (tmp_path / "node_modules").symlink_to(sdk / "node_modules")
    (tmp_path / "worker.mjs").write_text(WORKER)
    log = (tmp_path / "node.log").open("wb")
    process = subprocess.Popen(
        ["node", "worker.mjs"],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "III_URL": api.engine.ws_url},
        start_new_session=True,
    )
    yield process
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(5)


async def test_node_worker_serves_routes(api: Api, node_worker: subprocess.Popen) -> None:
    await api.wait_status("/node/stream", 201)
    async with api.session.post(api.url + "/node/hello/ada?q=x", json={"k": 1}) as reply:
        assert reply.status == 200
        assert reply.headers["content-type"] == "application/json"
        assert await reply.json() == {"hello": "ada", "q": "x", "method": "POST", "body": {"k": 1}}
    async with api.session.get(api.url + "/node/stream") as reply:
        assert reply.status == 201
        assert reply.headers["content-type"] == "text/plain"
        assert await reply.text() == "streamed from node"
