"""Pub/sub subscriber of `order.processed`: keep running totals in state."""

from orders import STATS_SCOPE

config = {"type": "event", "name": "CountProcessed", "subscribes": ["order.processed"], "flows": ["orders"]}


async def handler(event, ctx):
    await ctx.state.update(
        STATS_SCOPE,
        "totals",
        [
            {"type": "increment", "path": "orders", "by": 1},
            {"type": "increment", "path": "items", "by": event["quantity"]},
        ],
    )
