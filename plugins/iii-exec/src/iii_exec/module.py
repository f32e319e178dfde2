"""``modules::shell::ExecModule``: run the app's commands and restart them when watched files change."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from iii_engine import ConfigView, Engine, Module, hookimpl

from .globs import GlobError, WatchPattern, compile_pattern
from .pipeline import Pipeline
from .watcher import watch

TERMINATE_GRACE_S = 3.0
STOP_MARGIN_S = 1.0
PATHS_SHOWN = 3


class ExecModule(Module):
    """Config (strict): ``exec`` — shell commands run in order, the last one long-lived;
    ``watch`` — globs whose matching files restart the pipeline when they change."""

    logger_name = "iii::modules::shell"

    def __init__(self, engine: Engine, config: ConfigView) -> None:
        super().__init__(engine, config)
        self.commands: list[str] = []
        self.patterns: list[WatchPattern] = []
        self._tasks: list[asyncio.Task[None]] = []

    @hookimpl
    def iii_module_init(self) -> None:
        self.commands = self._read_commands()
        self.patterns = self._read_patterns()
        self.config.reject_unknown()
        self._pipeline = Pipeline(self.commands, self.log, TERMINATE_GRACE_S)
        self._stop_watching = asyncio.Event()

    def _read_commands(self) -> list[str]:
        commands = self.config.list("exec")
        if commands is None:
            raise self.config.error("exec", "is required: a list of shell commands to run in order")
        if not commands:
            raise self.config.error("exec", "needs at least one command")
        for index, command in enumerate(commands):
            if not isinstance(command, str) or not command.strip():
                raise self.config.error("exec", f"entry {index} must be a non-empty string, got {command!r}")
        return commands

    def _read_patterns(self) -> list[WatchPattern]:
        """The usable ``watch`` globs; a malformed one or one whose directory is missing is
        logged and left out (the other patterns and the pipeline still work)."""
        globs = self.config.list("watch", [])
        patterns = []
        for index, glob in enumerate(globs):
            if not isinstance(glob, str):
                raise self.config.error("watch", f"entry {index} must be a glob string, got {glob!r}")
            try:
                pattern = compile_pattern(glob, Path.cwd())
            except GlobError as exc:
                self.log.error(f"invalid watch glob {glob!r} ignored: {exc}", glob=glob)
                continue
            if not pattern.root.is_dir():
                self.log.warning(
                    f"watch glob {glob!r} ignored: directory {str(pattern.root)!r} does not exist", glob=glob
                )
                continue
            patterns.append(pattern)
        return patterns

    @hookimpl
    def iii_module_start(self) -> None:
        self._tasks.append(self.engine.spawn(self._pipeline.run(), name="exec-pipeline"))
        if self.patterns:
            watcher = watch(self.patterns, self._changed, self._stop_watching, self.log)
            self._tasks.append(self.engine.spawn(watcher, name="exec-watcher"))

    def _changed(self, paths: list[str]) -> None:
        shown = ", ".join(os.path.relpath(path) for path in paths[:PATHS_SHOWN])
        more = f" and {len(paths) - PATHS_SHOWN} more" if len(paths) > PATHS_SHOWN else ""
        self.log.info(f"Change detected in {shown}{more}; restarting the pipeline")
        self._pipeline.restart()

    @hookimpl
    async def iii_module_stop(self) -> None:
        """SIGTERM every process group of the pipeline, SIGKILL after the grace period."""
        if not self._tasks:
            return
        self._stop_watching.set()
        self._pipeline.stop()
        _done, pending = await asyncio.wait(self._tasks, timeout=TERMINATE_GRACE_S + STOP_MARGIN_S)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
