"""Process checks through ``ps`` (independent of the module's own bookkeeping); zombies count as gone."""

from __future__ import annotations

import subprocess


def live_processes() -> dict[int, int]:
    """pid → process group of every process that is not a zombie."""
    listing = subprocess.run(
        ["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    live = {}
    for line in listing.splitlines():
        pid, pgid, stat = line.split()[:3]
        if not stat.startswith(("Z", "X")):
            live[int(pid)] = int(pgid)
    return live


def pid_alive(pid: int) -> bool:
    return pid in live_processes()


def group_alive(pgid: int) -> bool:
    return pgid in live_processes().values()
