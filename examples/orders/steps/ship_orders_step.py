"""Every second: ship the orders that are processing."""

from orders import ORDERS_SCOPE, change_status

config = {"type": "cron", "name": "ShipOrders", "cron": "* * * * * *", "flows": ["orders"]}


async def handler(tick, ctx):
    for order in await ctx.state.list(ORDERS_SCOPE):
        if order.get("status") == "processing":
            await change_status(ctx, order["id"], "shipped")
            ctx.logger.info("order shipped", {"order_id": order["id"]})
