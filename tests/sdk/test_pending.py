"""Pending calls share one deadline timer; invocation ids stay unique and UUID-shaped."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from iii_steps.errors import InvocationTimeout
from iii_steps.pending import InvocationIds, PendingCalls


async def test_each_call_times_out_at_its_own_deadline() -> None:
    pending = PendingCalls()
    started = time.monotonic()
    slow = pending.add("slow", "fn::slow", 0.6)  # arms the timer first
    fast = pending.add("fast", "fn::fast", 0.1)  # an earlier deadline re-arms it
    answered = pending.add("answered", "fn::answered", 0.1)
    assert pending.pop("answered") is answered
    answered.set_result("ok")

    with pytest.raises(InvocationTimeout, match="fn::fast"):
        await fast
    assert 0.09 <= time.monotonic() - started < 0.4
    assert not slow.done()
    with pytest.raises(InvocationTimeout, match="fn::slow") as raised:
        await slow
    assert 0.59 <= time.monotonic() - started < 1.2
    assert raised.value.timeout == 0.6


async def test_pop_of_unknown_id_is_none_and_items_lists_the_rest() -> None:
    pending = PendingCalls()
    future = pending.add("a", "fn", 5)
    assert pending.pop("missing") is None
    assert pending.pop(None) is None
    assert list(pending.items()) == [("a", future)]
    pending.pop("a")
    await asyncio.sleep(0)


def test_invocation_ids_are_unique_v4_uuids() -> None:
    ids = InvocationIds()
    produced = [ids() for _ in range(1000)]
    assert len(set(produced)) == 1000
    assert all(uuid.UUID(each).version == 4 for each in produced)
    assert ids()[:24] != InvocationIds()()[:24]
