"""Queue consumer of `order.created`: reserve stock, mark the order processing, announce it."""

from orders import ORDERS_SCOPE, change_status

config = {"type": "queue", "name": "ProcessOrder", "topic": "order.created", "flows": ["orders"]}


async def handler(event, ctx):
    order = await ctx.state.get(ORDERS_SCOPE, event["order_id"])
    if order is None:
        ctx.logger.warn("order vanished before processing", event)
        return
    await change_status(ctx, order["id"], "processing")
    await ctx.publish("order.processed", {"order_id": order["id"], "quantity": order["quantity"]})
