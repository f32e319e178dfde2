"""GET /stats: totals kept by CountProcessed."""

from orders import STATS_SCOPE

config = {"type": "api", "name": "Stats", "path": "/stats", "method": "GET", "flows": ["orders"]}


async def handler(req, ctx):
    totals = await ctx.state.get(STATS_SCOPE, "totals")
    return {"status": 200, "body": totals or {"orders": 0, "items": 0}}
