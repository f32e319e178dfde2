"""GET /orders/:id."""

from orders import ORDERS_SCOPE

config = {"type": "api", "name": "GetOrder", "path": "/orders/:id", "method": "GET", "flows": ["orders"]}


async def handler(req, ctx):
    order = await ctx.state.get(ORDERS_SCOPE, req.path_params["id"])
    if order is None:
        return {"status": 404, "body": {"error": f"order {req.path_params['id']} not found"}}
    return {"status": 200, "body": order}
