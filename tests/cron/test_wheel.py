"""The timer wheel: one task, wall-clock due times, batches, early wake-up for earlier items."""

from __future__ import annotations

import asyncio
import time

from iii_cron.wheel import TimerWheel


async def test_due_items_arrive_in_batches_on_time_and_in_order() -> None:
    batches: list[tuple[float, list[tuple[str, float]]]] = []
    wheel: TimerWheel[str] = TimerWheel(lambda batch: batches.append((time.time(), batch)))
    task = asyncio.create_task(wheel.run())
    try:
        start = time.time()
        wheel.schedule(start + 0.3, "late")
        wheel.schedule(start + 0.1, "first")
        wheel.schedule(start + 0.1, "second")
        await asyncio.sleep(0.05)
        wheel.schedule(start + 0.06, "earlier")  # already due: must not wait for the 0.1 s timer
        await asyncio.sleep(0.4)
    finally:
        task.cancel()
    assert [[item for item, _ in batch] for _, batch in batches] == [
        ["earlier"],
        ["first", "second"],
        ["late"],
    ]
    for woke, batch in batches:
        for _, due in batch:
            assert 0 <= woke - due < 0.03
    assert len(wheel) == 0
