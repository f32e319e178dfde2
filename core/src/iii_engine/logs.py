"""Engine logs on stdout through structlog: ``default`` (human) or ``json`` format, level directives."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import structlog

LEVELS = {"trace": 5, "debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "critical": 50}
_LABELS = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARN",
    "error": "ERROR",
    "critical": "ERROR",
    "exception": "ERROR",
}


class LevelFilter:
    """Applies ``info`` or ``warn,iii::modules::api=debug`` style directives to logger names."""

    def __init__(self, spec: str) -> None:
        self.default = LEVELS["info"]
        self.targets: list[tuple[str, int]] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            target, _, level = part.rpartition("=")
            value = LEVELS.get(level.lower())
            if value is None:
                raise ValueError(f"unknown log level '{level}' (use trace, debug, info, warn or error)")
            if target:
                self.targets.append((target, value))
            else:
                self.default = value
        self.targets.sort(key=lambda t: -len(t[0]))

    def minimum(self) -> int:
        return min([self.default, *(level for _, level in self.targets)])

    def threshold(self, name: str) -> int:
        """The lowest level that ``name``'s lines must have to be written."""
        for target, level in self.targets:
            if name.startswith(target):
                return level
        return self.default

    def __call__(self, _logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        level = LEVELS.get(method if method != "exception" else "error", 20)
        if level < self.threshold(event.get("logger", "")):
            raise structlog.DropEvent
        return event


class _Clock:
    """``hh:mm:ss.mmm AM`` local time; the ``strftime`` part is formatted once per second, not
    once per line (a busy engine logs a line per HTTP request)."""

    __slots__ = ("_ampm", "_hms", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._hms = self._ampm = ""

    def __call__(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            local = time.localtime(second)
            self._second = second
            self._hms = time.strftime("%I:%M:%S", local)
            self._ampm = time.strftime("%p", local)
        return f"{self._hms}.{int(now * 1000) % 1000:03d} {self._ampm}"


_clock = _Clock()


def _default_head(method: str, target: str) -> str:
    """What follows the clock in a ``default`` line, up to the message."""
    return f" [{_LABELS.get(method, method.upper())}] {target} "


def _render_default(_logger: Any, method: str, event: dict[str, Any]) -> str:
    clock = _clock()
    name = event.pop("logger", "iii")
    target = event.pop("function", None) or name
    message = event.pop("event", "")
    traceback = event.pop("exception", None)
    event.pop("exc_info", None)
    lines = [f"[{clock}]{_default_head(method, target)}{message}"]
    items = list(event.items())
    for index, (key, value) in enumerate(items):
        branch = "└" if index == len(items) - 1 else "├"
        shown = json.dumps(value) if isinstance(value, str) else _compact(value)
        lines.append(f"    {branch} {key}: {shown}")
    if traceback:
        lines.append(traceback.rstrip())
    return "\n".join(lines)


def _render_json(_logger: Any, method: str, event: dict[str, Any]) -> str:
    target = event.pop("logger", "iii")
    event.pop("exc_info", None)
    message = event.pop("event", "")
    record = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z",
        "level": _LABELS.get(method, method.upper()),
        "fields": {"message": message, **event},
        "target": target,
    }
    return json.dumps(record, default=str)


def _compact(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


class LineWriter:
    """Writes log lines; inside a running event loop, the lines of one turn together at its end
    (the way worker messages are coalesced in ``server.WorkerSocket``), outside one at once.

    A busy engine logs a line per HTTP request, several per turn; a write system call per line
    was a measurable share of its CPU. The buffering is our own, so it holds when the stream
    itself is unbuffered (``PYTHONUNBUFFERED``); lines still pending at exit are written then.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending: list[str] = []
        self._turn_loop: asyncio.AbstractEventLoop | None = None
        """The loop whose current turn holds lines back; ``None`` when no turn is open."""
        self._home: tuple[asyncio.AbstractEventLoop, int] | None = None
        """The loop last found running, with its thread: on Python 3.11 asking asyncio for the
        running loop costs a ``getpid`` system call, which this spares once per turn."""
        atexit.register(self._end_turn)

    def msg(self, message: str) -> None:
        turn_loop = self._turn_loop
        if turn_loop is not None and turn_loop.is_running():
            self._pending.append(message)
            return
        self._end_turn()  # a turn of a loop that has stopped since
        loop = self._running_loop()
        if loop is None:
            self._write(message + "\n")
            return
        self._pending.append(message)
        self._turn_loop = loop
        loop.call_soon(self._end_turn)

    def _running_loop(self) -> asyncio.AbstractEventLoop | None:
        thread = threading.get_ident()
        if self._home is not None and self._home[1] == thread and self._home[0].is_running():
            return self._home[0]  # the one loop that can be running in this thread
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._home = (loop, thread)
        return loop

    def _end_turn(self) -> None:
        self._turn_loop = None
        if self._pending:
            lines, self._pending = self._pending, []
            self._write("\n".join(lines) + "\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # closed or broken stdout must not break the engine
            pass

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


Renderer = Callable[[Any, str, dict[str, Any]], str]


class _Output:
    """What :func:`configure_logging` set last: the level filter, the renderer and the writer."""

    def __init__(self, level_filter: LevelFilter, render: Renderer, writer: LineWriter) -> None:
        self.level_filter = level_filter
        self.render = render
        self.writer = writer


_output: _Output | None = None


def configure_logging(level: str = "info", fmt: str = "default", stream: TextIO | None = None) -> None:
    """Set the level directives and the format (``default`` or ``json``) of every engine logger."""
    global _output
    level_filter = LevelFilter(level)
    writer = LineWriter(stream or sys.stdout)
    fmt = (fmt or "default").lower()
    if fmt not in ("default", "json"):
        raise ValueError(f"unknown log format '{fmt}' (use default or json)")
    render = _render_json if fmt == "json" else _render_default
    _output = _Output(level_filter, render, writer)
    structlog.configure(
        processors=[level_filter, structlog.processors.format_exc_info, render],
        wrapper_class=structlog.make_filtering_bound_logger(max(level_filter.minimum(), logging.DEBUG)),
        logger_factory=lambda *_: writer,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger().bind(logger=name)


def line_logger(name: str, level: str = "info") -> Callable[[str], None] | None:
    """A writer of plain message lines at ``level`` for logger ``name``, or ``None`` when the
    level directives drop that level for ``name``.

    For lines written per request on a hot path: a line comes out exactly as
    ``get_logger(name).<level>(message)`` would write it, without structlog's per-call
    processing. It follows the configuration current when it is made.
    """
    output = _output
    assert output is not None
    if LEVELS[level] < max(output.level_filter.threshold(name), logging.DEBUG):
        return None
    method = "warning" if level == "warn" else level
    render, writer = output.render, output.writer
    if render is _render_default:
        head = _default_head(method, name)

        def write_default(message: str) -> None:
            writer.msg(f"[{_clock()}]{head}{message}")

        return write_default

    def write(message: str) -> None:
        writer.msg(render(None, method, {"logger": name, "event": message}))

    return write


configure_logging()
