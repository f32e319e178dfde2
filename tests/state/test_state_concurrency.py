"""Atomic ``state::update``: N workers x M increments on one key give exactly N*M."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.state.support import call, state_config, unique, workers

WORKERS = 6
INCREMENTS = 40


def hammer(clients, scope: str, key: str) -> None:
    """Every client increments ``key`` INCREMENTS times, all clients at once."""
    ops = [{"type": "increment", "path": "n", "by": 1}]

    def run(client) -> None:
        for _ in range(INCREMENTS):
            call(client, "state::update", {"scope": scope, "key": key, "ops": ops})

    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(run, clients))


@pytest.mark.timeout(180)
def test_concurrent_increments_are_not_lost(state_engine) -> None:
    with workers(state_engine.ws_url, WORKERS) as clients:
        scope = unique("race")
        hammer(clients, scope, "counter")
        assert call(clients[0], "state::get", {"scope": scope, "key": "counter"}) == {
            "n": WORKERS * INCREMENTS
        }


@pytest.mark.timeout(180)
def test_concurrent_increments_through_two_engines_on_one_redis(engine_factory, key_prefix) -> None:
    first = engine_factory(state_config("redis", key_prefix), name="a")
    second = engine_factory(state_config("redis", key_prefix), name="b")
    with workers(first.ws_url, WORKERS // 2) as left, workers(second.ws_url, WORKERS // 2) as right:
        scope = unique("race2")
        hammer(left + right, scope, "counter")
        assert call(left[0], "state::get", {"scope": scope, "key": "counter"}) == {"n": WORKERS * INCREMENTS}
