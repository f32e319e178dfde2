"""File watching with watchfiles: report the changed paths that match any watch pattern."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchfiles import Change, awatch

from .globs import WatchPattern

# a batch of changes is reported once nothing changed for STEP ms (or after DEBOUNCE ms at most)
DEBOUNCE_STEP_MS = 50
DEBOUNCE_MAX_MS = 800


def watch_roots(patterns: list[WatchPattern], recursive: bool) -> list[Path]:
    """The directories to watch with the given recursion, without ones already covered."""
    roots = sorted({p.root for p in patterns if p.recursive == recursive})
    if not recursive:
        return roots
    return [root for root in roots if not any(other in root.parents for other in roots)]


async def watch(
    patterns: list[WatchPattern], on_change: Callable[[list[str]], None], stop: asyncio.Event, log: Any
) -> None:
    """Call ``on_change(paths)`` for each debounced batch of matching changes until ``stop`` is set.

    Recursive and flat directories are watched by separate watchers. A watcher that fails (e.g.
    the inotify limit) is logged; file watching then stops, the pipeline keeps running.
    """

    def matches(_change: Change, path: str) -> bool:
        return any(pattern.matches(path) for pattern in patterns)

    async def run_watcher(roots: list[Path], recursive: bool) -> None:
        try:
            async for changes in awatch(
                *roots,
                watch_filter=matches,
                debounce=DEBOUNCE_MAX_MS,
                step=DEBOUNCE_STEP_MS,
                stop_event=stop,
                recursive=recursive,
            ):
                on_change(sorted({path for _change, path in changes}))
        except (OSError, RuntimeError) as exc:
            log.error("file watching failed; changes no longer restart the pipeline", error=str(exc))

    watchers = [
        run_watcher(roots, recursive)
        for recursive in (False, True)
        if (roots := watch_roots(patterns, recursive))
    ]
    await asyncio.gather(*watchers)
