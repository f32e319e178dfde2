"""The leader of each exec process group: stops the group when the engine dies, even by SIGKILL.

Run by the engine as ``python -I -S guard.py LIFELINE_FD GRACE_S ARGV...`` in a new session.
``LIFELINE_FD`` is the read end of a pipe whose write end only the engine holds, so it reports
hang-up the moment the engine process is gone, however it died. The guard runs ``ARGV`` as a
child in its own group and exits with the child's status (same code, or killed by the same
signal), so the engine sees the command's status. If the engine dies first, the guard sends
SIGTERM to the group and SIGKILL after ``GRACE_S`` seconds. When the command exits but left
processes running in the group, a forked watcher keeps guarding them until the group is empty.

Standard library only and nothing heavy: it is on the start-up path of every command.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from typing import NoReturn

GROUP_POLL_S = 0.02
LINGER_POLL_MS = 500
# signals commonly sent to a whole group: the guard outlives them to report the command's status
SURVIVED = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
CORE_SIGNALS = {signal.SIGQUIT, signal.SIGILL, signal.SIGABRT, signal.SIGFPE, signal.SIGSEGV, signal.SIGBUS}


def group_alive(pgid: int, exclude: int = 0) -> bool:
    """Whether process group ``pgid`` has a member other than pid ``exclude`` that is not a zombie
    (True when that cannot be told without ``/proc``)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for name in entries:
        if not name.isdigit() or int(name) == exclude:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _ignore(_signum: int, _frame: object) -> None:
    """Handler that only wakes the poll loop (through the wakeup fd)."""


def stop_group(grace_s: float) -> NoReturn:
    """The engine is gone: SIGTERM our group, SIGKILL it (us included) if anything outlives the grace."""
    me = os.getpid()
    pgid = os.getpgid(0)
    signal.signal(signal.SIGTERM, _ignore)
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not group_alive(pgid, exclude=me):
            os._exit(0)
        time.sleep(GROUP_POLL_S)
    os.killpg(pgid, signal.SIGKILL)
    os._exit(0)


def exit_like(code: int) -> NoReturn:
    """Exit as the command did: ``code`` is a status, or minus the signal that killed it."""
    if code < 0:
        signum = -code
        if signum in CORE_SIGNALS:
            import resource  # only here: no core dump of the guard itself

            resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
        if signum != signal.SIGKILL:
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    os._exit(code if code >= 0 else 128 - code)


def guard_lingering(lifeline: int, grace_s: float) -> NoReturn:
    """In a forked child: guard what the command left in the group until it is empty."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # do not hold the engine's output pipes open
    for signum in SURVIVED:
        signal.signal(signum, signal.SIG_DFL)  # the engine stopping the group stops us too
    me = os.getpid()
    pgid = os.getpgid(0)
    poller = select.poll()
    poller.register(lifeline, select.POLLIN)
    while group_alive(pgid, exclude=me):
        if poller.poll(LINGER_POLL_MS):
            stop_group(grace_s)
    os._exit(0)


def main(argv: list[str]) -> NoReturn:
    lifeline, grace_s, command = int(argv[0]), float(argv[1]), argv[2:]
    if os.getpgid(0) != os.getpid():
        os.setsid()  # the engine starts us as a group leader; never signal a group we do not lead
    os.set_inheritable(lifeline, False)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    for signum in (signal.SIGCHLD, *SURVIVED):
        signal.signal(signum, _ignore)
    try:
        child = os.posix_spawn(command[0], command, os.environ, setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as exc:
        print(f"iii-exec: cannot run {command[0]}: {exc}", file=sys.stderr)
        os._exit(127)
    poller = select.poll()
    poller.register(lifeline, select.POLLIN)  # hang-up (POLLHUP) when the engine is gone
    poller.register(wake_read, select.POLLIN)
    while True:
        ready = {fd for fd, _event in poller.poll()}
        if lifeline in ready:
            stop_group(grace_s)
        while True:
            try:
                os.read(wake_read, 512)
            except BlockingIOError:
                break
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            break
    if group_alive(os.getpgid(0), exclude=os.getpid()) and os.fork() == 0:
        guard_lingering(lifeline, grace_s)
    exit_like(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main(sys.argv[1:])
