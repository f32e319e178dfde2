"""The exec pipeline: run the commands in order, keep the last one alive, restart on request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from .process import ShellProcess, describe_status

T = TypeVar("T")

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 10.0
# exit statuses of `sh -c` that a retry cannot fix: only a change of the watched files can
NOT_RESTARTABLE = {126: "is not executable", 127: "was not found"}


class Backoff:
    """Doubling delays between restarts of a crashing command; reset once it ran long enough."""

    def __init__(self) -> None:
        self.attempt = 0

    def next_delay(self, ran_for_s: float) -> float:
        if ran_for_s >= STABLE_AFTER_S:
            self.attempt = 0
        delay = min(BACKOFF_INITIAL_S * 2**self.attempt, BACKOFF_MAX_S)
        self.attempt += 1
        return delay


class Pipeline:
    """Runs ``commands`` as the exec pipeline until :meth:`stop`.

    Each non-final command must exit with status 0 before the next one starts; otherwise the
    run ends with an error logged. The final command is the long-lived process: a clean exit
    (status 0) ends the run, a crash restarts it after a back-off delay. :meth:`restart`
    terminates every process group of the current run and runs the whole pipeline again.
    """

    def __init__(self, commands: list[str], log: Any, grace_s: float) -> None:
        self.commands = commands
        self.grace_s = grace_s
        self._log = log
        self._restart = asyncio.Event()
        self._stopping = False
        self._processes: list[ShellProcess] = []  # every process of the current run, finished ones too

    def restart(self) -> None:
        """Ask for the pipeline to run again from its first command (coalesces bursts)."""
        self._restart.set()

    async def run(self) -> None:
        """Supervise until :meth:`stop`; always leaves no process group behind."""
        try:
            while not self._stopping:
                self._restart.clear()
                await self._run_once()
                await self._restart.wait()
                await self._terminate_all()
                if not self._stopping:
                    self._log.info("Restarting the pipeline")
        finally:
            await self._terminate_all()

    def stop(self) -> None:
        """Make :meth:`run` terminate every process group and return."""
        self._stopping = True
        self._restart.set()

    async def _run_once(self) -> None:
        """One run: the steps, then the final command (restarted while it crashes)."""
        *steps, final = self.commands
        for command in steps:
            ran = await self._run(command)
            if ran is None:
                return
            process, status = ran
            if status != 0:
                self._log.error(
                    f"`{process.label}` {describe_status(status)}; the rest of the pipeline is skipped "
                    "until a watched file changes",
                    command=command,
                    status=status,
                )
                return
        backoff = Backoff()
        while (ran := await self._run(final)) is not None:
            if not await self._after_final_exit(*ran, backoff):
                return

    async def _run(self, command: str) -> tuple[ShellProcess, int] | None:
        """Start ``command`` and wait for its exit status; None if it could not start or a
        restart came first."""
        try:
            process = await ShellProcess.start(command, self._log, self.grace_s)
        except OSError as exc:
            self._log.error(f"could not start `{command}`: {exc}", command=command)
            return None
        self._processes.append(process)
        status = await self._unless_restart(process.wait())
        return None if status is None else (process, status)

    async def _after_final_exit(self, process: ShellProcess, status: int, backoff: Backoff) -> bool:
        """Log how the final command ended; True after waiting out the back-off to restart it."""
        await process.terminate(self.grace_s)
        if status == 0:
            self._log.info(
                f"`{process.label}` exited with status 0; not restarted until a watched file changes",
                command=process.command,
            )
            return False
        if status in NOT_RESTARTABLE:
            self._log.error(
                f"`{process.label}` {describe_status(status)}: the command {NOT_RESTARTABLE[status]}; "
                "not restarted until a watched file changes",
                command=process.command,
                status=status,
            )
            return False
        delay = backoff.next_delay(time.monotonic() - process.started_at)
        self._log.error(
            f"`{process.label}` crashed ({describe_status(status)}); restarting in {delay:g} s",
            command=process.command,
            status=status,
            attempt=backoff.attempt,
        )
        self._processes.remove(process)
        return await self._unless_restart(asyncio.sleep(delay, True)) is not None

    async def _unless_restart(self, awaitable: Awaitable[T]) -> T | None:
        """The result of ``awaitable``, or None (it is cancelled) when a restart comes first."""
        work = asyncio.ensure_future(awaitable)
        interrupt = asyncio.ensure_future(self._restart.wait())
        await asyncio.wait({work, interrupt}, return_when=asyncio.FIRST_COMPLETED)
        interrupt.cancel()
        if work.done():
            return work.result()
        work.cancel()
        return None

    async def _terminate_all(self) -> None:
        processes, self._processes = self._processes, []
        await asyncio.gather(*(process.terminate(self.grace_s) for process in reversed(processes)))
