"""POST /orders: validate, store the order, publish it on the stream and queue it for processing."""

import uuid

from orders import ORDERS_SCOPE, ORDERS_STREAM, STREAM_GROUP, validation_errors

config = {
    "type": "api",
    "name": "CreateOrder",
    "description": "Create an order",
    "path": "/orders",
    "method": "POST",
    "flows": ["orders"],
}


async def handler(req, ctx):
    errors = validation_errors(req.body)
    if errors:
        return {"status": 400, "body": {"errors": errors}}
    order = {
        "id": uuid.uuid4().hex[:12],
        "item": req.body["item"],
        "quantity": req.body["quantity"],
        "status": "pending",
        "trace_id": ctx.trace_id,
    }
    await ctx.state.set(ORDERS_SCOPE, order["id"], order)
    await ctx.streams[ORDERS_STREAM].set(STREAM_GROUP, order["id"], order)
    await ctx.enqueue("order.created", {"order_id": order["id"]})
    ctx.logger.info("order created", {"order_id": order["id"]})
    return {"status": 201, "body": order}
