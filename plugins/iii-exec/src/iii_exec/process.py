"""One shell command in its own process group, its output forwarded to the engine log."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from .guard import group_alive

SHELL = "/bin/sh"
GUARD = str(Path(__file__).with_name("guard.py"))
LABEL_WIDTH = 40
MAX_LINE_BYTES = 64 * 1024
READ_CHUNK_BYTES = 64 * 1024
GROUP_POLL_S = 0.02
OUTPUT_DRAIN_S = 0.5


def describe_status(returncode: int) -> str:
    """``exited with status 3`` / ``was killed by SIGKILL``."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"


def command_label(command: str) -> str:
    """The command as shown in front of its output lines (long ones shortened)."""
    flat = " ".join(command.split())
    return flat if len(flat) <= LABEL_WIDTH else flat[: LABEL_WIDTH - 1] + "…"


@functools.cache
def lifeline() -> int:
    """The read end of a pipe whose write end this process holds until it exits, however it exits.

    Every guard gets the read end and sees it hang up when the engine is gone. Both ends are
    close-on-exec, so no other process holds the write end.
    """
    read_end, _write_end = os.pipe()  # the write end stays open on purpose, for the process's lifetime
    return read_end


class ShellProcess:
    """``sh -c <command>`` in a new process group led by the guard (``guard.py``).

    The guard exits with the command's status and stops the group if the engine dies.
    stdout and stderr are read line by line and logged as ``[command] line``; stdin is
    ``/dev/null``. :meth:`terminate` signals the whole group, so the command's children go too.
    """

    def __init__(self, command: str, process: asyncio.subprocess.Process, log: Any) -> None:
        self.command = command
        self.label = command_label(command)
        self.process = process
        self.started_at = time.monotonic()
        self._log = log
        self._readers = [
            asyncio.create_task(self._forward(process.stdout, "stdout"), name=f"exec-stdout:{process.pid}"),
            asyncio.create_task(self._forward(process.stderr, "stderr"), name=f"exec-stderr:{process.pid}"),
        ]

    @classmethod
    async def start(cls, command: str, log: Any, grace_s: float) -> ShellProcess:
        """Spawn the command under its guard, which stops the group (SIGTERM, SIGKILL after
        ``grace_s``) if the engine dies; raises OSError when the guard cannot be started."""
        env = {"PYTHONUNBUFFERED": "1", **os.environ}
        fd = lifeline()
        guard = (sys.executable, "-I", "-S", GUARD, str(fd), f"{grace_s:g}")
        process = await asyncio.create_subprocess_exec(
            *guard,
            SHELL,
            "-c",
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            pass_fds=(fd,),
            start_new_session=True,  # own session and process group (pgid = the guard's pid)
        )
        log.info(f"Started `{command}`", command=command, pid=process.pid)
        return cls(command, process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def wait(self) -> int:
        """Wait for the command to exit; its status (negative: killed by that signal)."""
        return await self.process.wait()

    async def terminate(self, grace_s: float) -> None:
        """SIGTERM the whole group, SIGKILL whatever is left after ``grace_s``, stop forwarding.

        Safe after the shell exited: children it left behind are still in its group. A group
        found empty is never signalled (its id may be reused once nothing holds it).
        """
        if self.returncode is None or group_alive(self.pid):
            await self._stop_group(grace_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), grace_s)
        await self._stop_forwarding()

    async def _stop_group(self, grace_s: float) -> None:
        gone = not self._signal_group(signal.SIGTERM)
        try:
            if not gone:
                await asyncio.wait_for(self._group_gone(), grace_s)
                gone = True
        except TimeoutError:
            self._log.warning(
                f"`{self.label}` did not exit within {grace_s:g} s of SIGTERM; sending SIGKILL",
                command=self.command,
                pgid=self.pid,
            )
        finally:
            if not gone:
                self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: signal.Signals) -> bool:
        """Send ``signum`` to the group; False when the group is already gone."""
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            return False
        return True

    async def _group_gone(self) -> None:
        """Return once the shell exited and no other member of its group is left (polled)."""
        await self.process.wait()
        while True:
            if not group_alive(self.pid):
                return
            await asyncio.sleep(GROUP_POLL_S)

    async def _stop_forwarding(self) -> None:
        _done, pending = await asyncio.wait(self._readers, timeout=OUTPUT_DRAIN_S)
        for reader in pending:
            reader.cancel()

    async def _forward(self, stream: asyncio.StreamReader | None, name: str) -> None:
        """Log every line of ``stream`` (over-long lines in pieces) until end of file."""
        if stream is None:
            return
        prefix = f"[{self.label}]" if name == "stdout" else f"[{self.label}] (stderr)"
        pending = b""
        while chunk := await stream.read(READ_CHUNK_BYTES):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > MAX_LINE_BYTES:
                lines.append(pending)
                pending = b""
            for line in lines:
                self._log.info(f"{prefix} {line.decode(errors='replace').rstrip()}")
        if pending:
            self._log.info(f"{prefix} {pending.decode(errors='replace').rstrip()}")
