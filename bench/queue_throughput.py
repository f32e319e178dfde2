"""End-to-end jobs/s: enqueue -> no-op handler in one Python worker.

Systems, measured in the same run, alternating rounds:
* iii, BuiltinQueueAdapter (in memory) - named queue via the worker protocol's enqueue action;
* iii, RedisAdapter (durable, DB 2);
* Celery 5 with a Redis broker (DB 2), one worker process (solo pool, prefetch 256), no results.

The clock runs from the first enqueue until the N-th job finished in the worker. Writes
``bench/results/queue.md``. Needs Redis on 127.0.0.1:6379 and ``bench/requirements-queue.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from harness import BIN, RESULTS, engine, free_port, stop
from iii import InitOptions, TriggerAction, register_worker

BENCH_DIR = Path(__file__).resolve().parent
REDIS_URL = "redis://127.0.0.1:6379/2"
BATCH = 500


def delete_keys(pattern: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(pattern, count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


def run_iii(adapter: dict[str, Any], jobs: int, workdir: Path) -> float:
    """One engine + one SDK worker that both enqueues and handles; returns jobs/s."""
    port = free_port()
    module = {
        "class": "modules::queue::QueueModule",
        "config": {"adapter": adapter, "queue_configs": {"bench": {"concurrency": 200}}},
    }
    config = f"port: {port}\nmodules:\n  - {json.dumps(module)}\n"
    with engine(config, workdir, port):
        return drive_worker(port, jobs)


def drive_worker(port: int, jobs: int) -> float:
    """One SDK worker that enqueues ``jobs`` no-op jobs and handles them; returns jobs/s."""
    client = register_worker(f"ws://127.0.0.1:{port}", InitOptions(otel={"enabled": False}))
    try:
        done = threading.Event()
        count = 0

        async def noop(data: Any) -> None:
            nonlocal count
            count += 1
            if count == jobs:
                done.set()

        client.register_function({"id": "bench.noop"}, noop)
        time.sleep(0.3)

        async def produce() -> None:
            for start in range(0, jobs, BATCH):
                await asyncio.gather(
                    *(
                        client._async_trigger(
                            {
                                "function_id": "bench.noop",
                                "payload": {"n": n},
                                "action": TriggerAction.Enqueue(queue="bench"),
                            }
                        )
                        for n in range(start, min(start + BATCH, jobs))
                    )
                )

        started = time.perf_counter()
        asyncio.run_coroutine_threadsafe(produce(), client._loop).result(300)
        if not done.wait(300):
            raise TimeoutError(f"only {count} of {jobs} jobs finished")
        return jobs / (time.perf_counter() - started)
    finally:
        client.shutdown()


def run_celery(jobs: int, workdir: Path, *, prefill: bool) -> float:
    """One Celery worker process (solo pool) fed by ``apply_async`` from this process; returns
    jobs/s from the first enqueue to the last job, or with ``prefill`` the worker's drain rate
    over a queue filled before it started (first job start to last job end)."""
    queue = f"bench-celery-{uuid.uuid4().hex[:8]}"
    done_file = workdir / f"{queue}.done"
    env = {
        **os.environ,
        "BENCH_CELERY_QUEUE": queue,
        "BENCH_CELERY_EXPECTED": str(jobs),
        "BENCH_CELERY_DONE_FILE": str(done_file),
        "BENCH_CELERY_BROKER": REDIS_URL,
        "PYTHONPATH": str(BENCH_DIR),
    }
    os.environ.update({k: env[k] for k in ("BENCH_CELERY_QUEUE", "BENCH_CELERY_BROKER")})
    sys.path.insert(0, str(BENCH_DIR))
    import queue_celery_app

    queue_celery_app.app.conf.task_default_queue = queue
    if prefill:
        for n in range(jobs):
            queue_celery_app.noop.apply_async((n,), queue=queue)
    log = (workdir / f"{queue}.log").open("wb")
    worker = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "queue_celery_app",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "-Q",
            queue,
            "-n",
            f"{queue}@localhost",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=BENCH_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not prefill and not queue_celery_app.app.control.ping(
            destination=[f"{queue}@localhost"], timeout=0.5
        ):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("celery worker did not start")
        started_wall = time.time()
        for n in range(0 if prefill else jobs):
            queue_celery_app.noop.apply_async((n,), queue=queue)
        deadline = time.monotonic() + 300
        while not done_file.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("celery did not finish")
            time.sleep(0.01)
        first_started, finished = (float(v) for v in done_file.read_text().split())
        return jobs / (finished - (first_started if prefill else started_wall))
    finally:
        stop(worker)
        log.close()
        delete_keys(f"{queue}*")
        delete_keys("_kombu.binding.*" + queue + "*")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"celery": [], "celery-drain": [], "iii-builtin": [], "iii-redis": []}
    with tempfile.TemporaryDirectory(prefix="iii-queue-bench-") as tmp:
        workdir = Path(tmp)
        for round_ in range(args.rounds):
            prefix = f"iiibench-{uuid.uuid4().hex[:8]}"
            try:
                results["celery"].append(run_celery(args.jobs, workdir, prefill=False))
                results["celery-drain"].append(run_celery(args.jobs, workdir, prefill=True))
                results["iii-builtin"].append(
                    run_iii({"class": "modules::queue::BuiltinQueueAdapter"}, args.jobs, workdir)
                )
                redis_adapter = {
                    "class": "modules::queue::RedisAdapter",
                    "config": {"redis_url": REDIS_URL, "key_prefix": prefix},
                }
                results["iii-redis"].append(run_iii(redis_adapter, args.jobs, workdir))
            finally:
                delete_keys(f"{prefix}*")
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} jobs/s" for k, v in results.items()))
    write_report(results, args.jobs)


def write_report(results: dict[str, list[float]], jobs: int) -> None:
    medians = {name: statistics.median(values) for name, values in results.items()}
    celery = medians["celery"]
    lines = [
        "# Queue throughput: enqueue -> no-op job in one Python worker",
        "",
        f"`python bench/queue_throughput.py --jobs {jobs} --rounds {len(results['celery'])}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, 2-core shared machine, loopback, "
        "systems alternating within each round; median of the rounds).",
        "",
        "| system | jobs/s (median) | rounds | vs Celery |",
        "| --- | ---: | --- | ---: |",
    ]
    for name, values in results.items():
        rounds = ", ".join(f"{v:,.0f}" for v in values)
        lines.append(f"| {name} | {medians[name]:,.0f} | {rounds} | {medians[name] / celery:.2f}x |")
    lines += [
        "",
        f"- **iii**: one engine process and one iii-sdk 0.9.0 worker that enqueues ({BATCH} enqueue",
        "  actions in flight, named queue with concurrency 200) and handles every job with an async no-op.",
        "- **celery**: Celery 5.7, Redis broker (DB 2), `apply_async` from the bench process, one worker",
        "  process (solo pool, prefetch multiplier 256, results ignored).",
        "- **celery-drain**: Celery's best case, the queue is filled before the worker starts and only the",
        "  worker's drain rate is timed (first job start to last job end), leaving out Celery's producer.",
        "",
        "Target: iii at least 3x Celery's end-to-end jobs/s.",
        "",
    ]
    out = RESULTS / "queue.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
