"""Helpers shared by the iii-steps and example tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    """Retry ``check`` until it stops failing an assertion (or an HTTP connection); return its result."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await check()
        except (AssertionError, aiohttp.ClientError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def get_json(http: aiohttp.ClientSession, url: str, status: int = 200) -> Any:
    """GET ``url``, assert the status, return the JSON body."""
    async with http.get(url) as response:
        assert response.status == status, await response.text()
        return await response.json()
