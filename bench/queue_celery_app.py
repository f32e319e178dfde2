"""The Celery side of ``queue_throughput.py``: a no-op task, and a worker-side counter that
writes the wall-clock times of the first task's start and the N-th task's end to a file
(no per-task I/O)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

BROKER = os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/2")
QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "bench-celery")
EXPECTED = int(os.environ.get("BENCH_CELERY_EXPECTED", "0"))
DONE_FILE = os.environ.get("BENCH_CELERY_DONE_FILE", "")

app = Celery("queue_bench", broker=BROKER)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_prefetch_multiplier=256,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

_completed = 0
_first_started = 0.0


@app.task(name="bench.noop")
def noop(n: int) -> None:
    """The job: nothing."""


@task_prerun.connect
def _first(**_: Any) -> None:
    global _first_started
    if not _first_started:
        _first_started = time.time()


@task_postrun.connect
def _count(**_: Any) -> None:
    global _completed
    _completed += 1
    if _completed == EXPECTED and DONE_FILE:
        Path(DONE_FILE).write_text(f"{_first_started!r} {time.time()!r}")
