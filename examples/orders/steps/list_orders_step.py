"""GET /orders: every order, oldest first."""

from orders import ORDERS_SCOPE

config = {"type": "api", "name": "ListOrders", "path": "/orders", "method": "GET", "flows": ["orders"]}


async def handler(req, ctx):
    return {"status": 200, "body": {"orders": await ctx.state.list(ORDERS_SCOPE)}}
