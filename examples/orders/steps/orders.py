"""Shared by the order steps (a plain module: only *_step.py files are steps)."""

from typing import Any

ORDERS_SCOPE = "orders"
STATS_SCOPE = "order-stats"
ORDERS_STREAM = "orders"
STREAM_GROUP = "all"


def validation_errors(body: Any) -> list[str]:
    """What is wrong with a create-order body (empty when valid)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors = []
    if not isinstance(body.get("item"), str) or not body["item"].strip():
        errors.append("'item' must be a non-empty string")
    quantity = body.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        errors.append("'quantity' must be a positive integer")
    return errors


async def change_status(ctx: Any, order_id: str, status: str) -> dict[str, Any]:
    """Set an order's status in state and push the new order to stream subscribers."""
    updated = await ctx.state.update(
        ORDERS_SCOPE, order_id, [{"type": "set", "path": "status", "value": status}]
    )
    order = updated["new_value"]
    await ctx.streams[ORDERS_STREAM].set(STREAM_GROUP, order_id, order)
    return order
