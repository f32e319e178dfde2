"""Engine log output: level directives, the fast line logger and the per-turn line batching."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator

import pytest
from iii_engine.logs import configure_logging, get_logger, line_logger


class CountingStream(io.StringIO):
    """A stdout stand-in that counts its writes (one write is one system call on a real one)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def stream() -> Iterator[CountingStream]:
    output = CountingStream()
    yield output
    configure_logging()


def test_line_logger_writes_what_the_structlog_logger_writes(stream: CountingStream) -> None:
    configure_logging("info", "default", stream)
    get_logger("iii::modules::api").info("GET /x 200 1.000ms")
    fast = line_logger("iii::modules::api")
    assert fast is not None
    fast("GET /x 200 1.000ms")
    slow_line, fast_line = stream.getvalue().splitlines()
    assert slow_line[slow_line.index("]") :] == fast_line[fast_line.index("]") :]
    assert fast_line.endswith("[INFO] iii::modules::api GET /x 200 1.000ms")


def test_line_logger_follows_level_directives_and_json_format(stream: CountingStream) -> None:
    configure_logging("warn,iii::modules::api=info", "json", stream)
    assert line_logger("iii::modules::queue") is None
    assert line_logger("iii::modules::api", "debug") is None
    fast = line_logger("iii::modules::api")
    assert fast is not None
    fast("hello")
    record = json.loads(stream.getvalue())
    assert (record["level"], record["target"], record["fields"]) == (
        "INFO",
        "iii::modules::api",
        {"message": "hello"},
    )


def test_lines_of_one_loop_turn_leave_in_one_write(stream: CountingStream) -> None:
    configure_logging("info", "default", stream)
    log = get_logger("iii::engine")

    async def burst() -> int:
        for index in range(50):
            log.info(f"line {index}")
        writes_during_turn = stream.writes
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return writes_during_turn

    assert asyncio.run(burst()) == 0
    assert stream.writes == 1
    assert [line.rsplit(" ", 1)[1] for line in stream.getvalue().splitlines()] == [str(i) for i in range(50)]
    log.info("outside a loop")
    assert stream.writes == 2 and stream.getvalue().endswith("outside a loop\n")
